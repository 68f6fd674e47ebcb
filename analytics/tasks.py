"""Celery tasks of the analytics app, one module per sub-domain; Celery's autodiscovery imports this module.

Each task has an explicit name: beat entries (analytics/migrations/0006_ml_beat_and_roles.py) and queued
messages refer to tasks by the name they had before the sub-domains had their own packages.
"""

from analytics.scenarios.tasks import fail_lost_scenarios_task, run_scenario_task
from analytics.scoring.tasks import refresh_active_sites_task, refresh_predictions_task, retrain_models_task

__all__ = [
    "fail_lost_scenarios_task",
    "refresh_active_sites_task",
    "refresh_predictions_task",
    "retrain_models_task",
    "run_scenario_task",
]
