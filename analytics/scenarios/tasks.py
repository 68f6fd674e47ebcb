"""The Celery tasks of what-if scenarios (analytics/tasks.py imports them so Celery finds them).

Both are routed by name in CELERY_TASK_ROUTES: runs to the batch queue, the sweep to the periodic one.
"""

from __future__ import annotations

from celery import shared_task

from analytics.scenarios.runner import fail_lost_scenarios, run_scenario

#: A soft limit well above what the scenario limits allow (analytics.scenarios.engine.MAX_TRUCK_HOURS,
#: ~10 min): a run that still overstays fails with the reason instead of holding a worker.
SOFT_TIME_LIMIT_S = 3600


# The name is the one the task had in analytics/scenario_tasks.py: queued messages keep finding it.
@shared_task(
    name="analytics.scenario_tasks.run_scenario_task", ignore_result=True, soft_time_limit=SOFT_TIME_LIMIT_S
)
def run_scenario_task(scenario_id: int) -> str | None:
    """Run one queued scenario headless; progress, cancellation and results go to its row.

    Takes the id, not the model: the run claims the row (queued -> running) itself, so a duplicate delivery
    finds it taken and does nothing, and a redelivery after its worker was killed marks it failed.
    """
    return run_scenario(scenario_id)


@shared_task(name="analytics.tasks.fail_lost_scenarios_task", ignore_result=True)
def fail_lost_scenarios_task() -> list[int]:
    """Mark failed the running scenarios whose worker is gone (beat: every minute, expires in 50 s)."""
    return fail_lost_scenarios()
