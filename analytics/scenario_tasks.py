"""The Celery task that runs a what-if scenario (registered by an import in analytics/tasks.py)."""

from __future__ import annotations

from celery import shared_task

#: A soft limit well above what the scenario limits allow (analytics.scenarios.MAX_TRUCK_HOURS, ~10 min):
#: a run that still overstays fails with the reason instead of holding a worker.
SOFT_TIME_LIMIT_S = 3600


@shared_task(ignore_result=True, soft_time_limit=SOFT_TIME_LIMIT_S)
def run_scenario_task(scenario_id: int) -> str | None:
    """Run one queued scenario headless; progress, cancellation and results go to its row.

    Takes the id, not the model: the run claims the row (queued -> running) itself, so a duplicate delivery
    finds it taken and does nothing.
    """
    from analytics.scenario_services import run_scenario

    return run_scenario(scenario_id)
