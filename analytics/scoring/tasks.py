"""Celery tasks of the ML side: live scoring of active sites and scheduled retraining.

Beat entries are created by analytics/migrations/0006_ml_beat_and_roles.py and can be retimed in admin
(django_celery_beat): refresh every minute (expires 50 s), retrain daily at 03:00 (expires 1 h). They store
the task names, so each task keeps the explicit name it had in analytics/tasks.py.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from analytics.scoring import bootstrap, frames, predictions, registry
from fleet.models import Site

log = logging.getLogger(__name__)


@shared_task(name="analytics.tasks.refresh_active_sites_task", ignore_result=True)
def refresh_active_sites_task() -> int:
    """Queue a refresh for each site that is not paused (every minute); each one skips itself when its site
    has not ticked REFRESH_EVERY_TICKS times since its last refresh."""
    site_ids = list(Site.objects.filter(paused=False, sim_clock__isnull=False).values_list("pk", flat=True))
    for site_id in site_ids:
        refresh_predictions_task.apply_async(args=[site_id], expires=50)
    start_bootstraps(site_ids)
    return len(site_ids)


def start_bootstraps(site_ids: list[int]) -> list[int]:
    """Queue a model bootstrap for the first simulated site that needs one (models are per installation,
    so one bootstrap serves every site); the row marks it queued before the task is sent. A refinement whose
    worker was lost is marked done on the way (bootstrap.settle_lost_refinement)."""
    for site in Site.objects.filter(pk__in=site_ids).order_by("pk"):
        bootstrap.settle_lost_refinement(site)
        if bootstrap.should_start(site):
            bootstrap.mark_queued(site)
            transaction.on_commit(lambda site_id=site.pk: bootstrap_models_task.delay(site_id))
            return [site.pk]
    return []


@shared_task(name="analytics.tasks.refresh_predictions_task", ignore_result=True)
def refresh_predictions_task(site_id: int) -> dict:
    """Score one site's units, detect anomalies, raise recommendations (analytics.scoring.predictions)."""
    outcome = predictions.refresh_site(site_id, recent=frames.RECENT_MINUTES)
    if outcome.refreshed:
        log.info(
            "predictions refreshed",
            extra={"site": site_id, "predictions": outcome.predictions, "anomalies": outcome.anomalies,
                   **{f"{k}_s": round(v, 3) for k, v in outcome.timings_s.items()}},
        )  # fmt: skip
    return {"refreshed": outcome.refreshed, "reason": outcome.reason}


# acks_late=False: a retrain killed midway is not worth repeating at once.
@shared_task(name="analytics.tasks.retrain_models_task", ignore_result=True, acks_late=False)
def retrain_models_task(kinds: list[str] | None = None, force: bool = False) -> list[dict]:
    """Retrain the models on the last week of every site's history; promote only no-worse candidates.

    Skipped (logged) while another retraining runs: registry.retrain holds one lock wherever it runs.
    """
    try:
        results = registry.retrain(kinds=registry.parse_kinds(kinds), force=force, progress=log.info)
    except registry.RetrainRunning as exc:
        log.warning("retraining skipped: %s", exc)
        return []
    return [
        {"kind": r.kind, "version": r.version.label if r.version else None, "promoted": r.promoted}
        for r in results
    ]


# acks_late=False, like retraining: a bootstrap killed midway is not redelivered at once; its row stays
# "training" and the refresh queues it again once nothing holds the lock for bootstrap.LOST_AFTER.
@shared_task(name="analytics.tasks.bootstrap_models_task", ignore_result=True, acks_late=False)
def bootstrap_models_task(site_id: int, kinds: list[str] | None = None) -> list[dict]:
    """Train the first models on simulated sites like `site_id` (analytics.scoring.bootstrap), then refresh
    the site's predictions at once. A failure is logged and marked on the bootstrap row; the periodic
    refresh retries it after a back-off."""
    try:
        results = bootstrap.bootstrap(
            site_id, kinds=kinds, progress=log.info, ready=lambda: refresh_predictions_task.delay(site_id)
        )
    except bootstrap.BootstrapRunning as exc:
        log.warning("model bootstrap skipped: %s", exc)
        bootstrap.release(site_id)
        return []
    except Exception:
        log.exception("model bootstrap failed", extra={"site": site_id})
        return []
    return [
        {"kind": r.kind, "version": r.version.label if r.version else None, "promoted": r.promoted}
        for r in results
    ]
