"""Celery tasks of the analytics app: live scoring of active sites and scheduled retraining.

Beat entries are created by analytics/migrations/0005_ml_beat_schedule.py and can be retimed in admin
(django_celery_beat): refresh every minute (expires 50 s), retrain daily at 03:00 (expires 1 h).
"""

from __future__ import annotations

import logging

from celery import shared_task

from analytics.scenario_tasks import run_scenario_task  # noqa: F401 - Celery finds tasks in tasks.py

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def refresh_active_sites_task() -> int:
    """Queue a refresh for each site that is not paused (every minute); each one skips itself when its site
    has not ticked REFRESH_EVERY_TICKS times since its last refresh."""
    from fleet.models import Site

    site_ids = list(Site.objects.filter(paused=False, sim_clock__isnull=False).values_list("pk", flat=True))
    for site_id in site_ids:
        refresh_predictions_task.apply_async(args=[site_id], expires=50)
    return len(site_ids)


@shared_task(ignore_result=True)
def refresh_predictions_task(site_id: int) -> dict:
    """Score one site's units, detect anomalies, raise recommendations (analytics.predictions)."""
    from analytics.predictions import refresh_site

    outcome = refresh_site(site_id)
    if outcome.refreshed:
        log.info(
            "predictions refreshed",
            extra={"site": site_id, "predictions": outcome.predictions, "anomalies": outcome.anomalies,
                   **{f"{k}_s": round(v, 3) for k, v in outcome.timings_s.items()}},
        )  # fmt: skip
    return {"refreshed": outcome.refreshed, "reason": outcome.reason}


@shared_task(ignore_result=True, acks_late=False)  # a retrain killed midway is not worth repeating at once
def retrain_models_task(kinds: list[str] | None = None, force: bool = False) -> list[dict]:
    """Retrain the models on the last week of every site's history; promote only no-worse candidates."""
    from analytics import registry

    results = registry.retrain(kinds=registry.parse_kinds(kinds), force=force, progress=log.info)
    return [
        {"kind": r.kind, "version": r.version.label if r.version else None, "promoted": r.promoted}
        for r in results
    ]
