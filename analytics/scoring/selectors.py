"""Reads behind the ML endpoints (predictions, the registry and its live accuracy) and the model gauges."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from analytics.scoring.models import BootstrapStatus, ModelBootstrap, ModelVersion, Prediction
from smartmine.platform import metrics

#: Live accuracy is measured on predictions whose horizon ended within this much simulated time.
ACCURACY_WINDOW = dt.timedelta(days=7)


def latest_predictions(site_id: int) -> QuerySet[Prediction]:
    """The newest prediction of each unit of the site, riskiest first (one index range per unit)."""
    newest = (
        Prediction.objects.filter(site_id=site_id)
        .order_by("equipment_kind", "equipment_id", "-ts")
        .distinct("equipment_kind", "equipment_id")
        .values("pk")
    )
    return (
        Prediction.objects.filter(pk__in=newest)
        .select_related("model")
        .order_by("-failure_probability", "equipment_name")
    )


def live_accuracy(kind: str | None = None) -> dict[str, dict[str, Any]]:
    """Per model kind: how its past predictions compare with what then happened (SimEvent breakdowns).

    Over predictions resolved in the last ACCURACY_WINDOW of simulated time: the count, the share where
    the warning matched the outcome (accuracy), Brier score, and warning precision and recall."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT m.kind, count(*),
                   avg(CASE WHEN p.warning = p.failed THEN 1.0 ELSE 0.0 END),
                   avg(power(p.failure_probability - CASE WHEN p.failed THEN 1 ELSE 0 END, 2)),
                   avg(CASE WHEN p.failed THEN 1.0 ELSE 0.0 END) FILTER (WHERE p.warning),
                   avg(CASE WHEN p.warning THEN 1.0 ELSE 0.0 END) FILTER (WHERE p.failed),
                   avg(CASE WHEN p.failed THEN 1.0 ELSE 0.0 END)
            FROM analytics_prediction p JOIN analytics_modelversion m ON m.id = p.model_id
            WHERE p.failed IS NOT NULL
              AND p.ts >= (SELECT max(ts) FROM analytics_prediction WHERE failed IS NOT NULL) - %s
              AND (%s::text IS NULL OR m.kind = %s)
            GROUP BY m.kind
            """,
            [ACCURACY_WINDOW, kind, kind],
        )
        rows = cursor.fetchall()
    names = ["resolved", "accuracy", "brier", "warning_precision", "warning_recall", "failure_share"]
    return {
        row[0]: {
            name: (None if v is None else int(v) if name == "resolved" else float(v))
            for name, v in zip(names, row[1:], strict=True)
        }
        for row in rows
    }


#: What `model_state` reports: models are being trained by a bootstrap, active, a bootstrap failed, none.
TRAINING, READY, FAILED, NO_MODEL = "training", "ready", "failed", "no_model"


def model_state() -> dict[str, Any]:
    """The installation's failure models in a few words, for the API, the dashboard and /api/health:
    `status` (training, ready, failed, no_model), the latest bootstrap (progress, step, error) and each
    active failure model's provenance (empty: trained on the sites' own history)."""
    active = {
        v.label: v.provenance
        for v in ModelVersion.objects.filter(active=True, kind__startswith="failure_").order_by("kind")
    }
    latest = ModelBootstrap.objects.order_by("-queued_at", "-pk").first()
    running = latest is not None and latest.status in (BootstrapStatus.QUEUED, BootstrapStatus.TRAINING)
    if running:
        status = TRAINING
    elif active:
        status = READY
    elif latest is not None and latest.status == BootstrapStatus.FAILED:
        status = FAILED
    else:
        status = NO_MODEL
    return {"status": status, "bootstrap": bootstrap_item(latest), "models": active}


def bootstrap_item(state: ModelBootstrap | None) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "status": state.status,
        "step": state.step,
        "progress": round(state.progress, 3),
        "site": state.site_id,
        "seeds": state.seeds,
        "days": state.days,
        "attempts": state.attempts,
        "queued_at": state.queued_at,
        "started_at": state.started_at,
        "finished_at": state.finished_at,
        "error": state.error,
    }


def registry_rows() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("kind", "-version")


def sample_model_metrics() -> None:
    """Scrape hook (smartmine.platform.metrics.SCRAPE_HOOKS): age, validation and live accuracy of active
    models."""
    now = timezone.now()
    for version in ModelVersion.objects.filter(active=True):
        metrics.ML_MODEL_AGE.labels(kind=version.kind).set((now - version.trained_at).total_seconds())
        for name in ("roc_auc", "pr_auc", "brier", "ece", "median_lead_h", "precision", "recall"):
            value = version.metrics.get(name)
            if isinstance(value, int | float):
                metrics.ML_MODEL_VALIDATION.labels(kind=version.kind, metric=name).set(value)
    for kind, figures in live_accuracy().items():
        for name, value in figures.items():
            if value is not None:
                metrics.ML_LIVE_ACCURACY.labels(kind=kind, metric=name).set(value)
