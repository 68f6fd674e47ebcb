"""Celery task names that beat entries and queued messages stored before the analytics sub-domains had
their own packages still find (the pure core is checked in tests/smartmine/test_architecture.py)."""


def test_every_task_keeps_the_name_it_is_stored_under():
    from smartmine.celery import app

    app.loader.import_default_modules()
    assert {name for name in app.tasks if name.startswith("analytics.")} == {
        "analytics.tasks.refresh_active_sites_task",
        "analytics.tasks.refresh_predictions_task",
        "analytics.tasks.retrain_models_task",
        "analytics.tasks.bootstrap_models_task",
        "analytics.tasks.fail_lost_scenarios_task",  # new, with its beat entry (migration 0008)
        "analytics.scenario_tasks.run_scenario_task",
    }
