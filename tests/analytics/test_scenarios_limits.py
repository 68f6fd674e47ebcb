"""Batch work is bounded and fair: limits on scenarios queued or running, a run whose worker is lost ends
failed and can be run again, cancel while queued or running, one retraining at a time.

The run lock is a real PostgreSQL advisory lock: a second connection (psycopg) plays the other worker.
"""

import psycopg
import pytest
from django.core.management import CommandError, call_command

from analytics.scenarios import runner, services
from analytics.scenarios.models import Scenario
from analytics.scenarios.tasks import fail_lost_scenarios_task, run_scenario_task
from analytics.scoring import registry
from analytics.scoring.tasks import retrain_models_task
from fleet import seeding
from smartmine.platform import locks
from tests.apiclients import assert_error, client_for
from tests.factories import engineer
from tests.processes import current_database_url

pytestmark = pytest.mark.django_db

REQUEST = {"start": "current", "shift_hours": 0.25, "seeds": 1, "first_seed": 0, "fleet_sizes": []}
QUICK = {"shift_hours": 0.25, "seeds": 1}


@pytest.fixture
def site():
    return seeding.seed_site(name="Limits pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


def queue(site, status="queued", created_by=None) -> Scenario:
    return Scenario.objects.create(
        site=site, status=status, created_by=created_by, request={**REQUEST, "changes": {}}
    )


@pytest.fixture
def other_session():
    """A second database session: the worker that holds a lock, as another process would."""
    with psycopg.connect(current_database_url(), autocommit=True) as connection:

        def hold(name: str, key: int = 0) -> None:
            connection.execute("SELECT pg_advisory_lock(%s, %s)", locks._keys(name, key))

        yield hold


def test_a_site_with_six_scenarios_queued_or_running_answers_429_naming_the_site(site):
    for status in ["queued"] * 4 + ["running"] * 2:
        queue(site, status)
    queue(site, "done")  # finished ones do not count

    response = client_for(engineer()).post("/api/scenarios", {"site": site.slug, **QUICK}, format="json")

    details = assert_error(response, 429, "too_many_scenarios")
    assert list(details) == ["site"]
    assert "6 scenarios queued or running (the limit is 6)" in details["site"][0]
    assert response.json()["error"]["message"] == details["site"][0]
    assert Scenario.objects.count() == 7


def test_an_engineer_with_four_scenarios_queued_answers_429_naming_the_engineer(site):
    user = engineer()
    for _ in range(services.MAX_ACTIVE_PER_USER):
        queue(site, created_by=user)

    refused = client_for(user).post("/api/scenarios", {"site": site.slug, **QUICK}, format="json")
    accepted = client_for(engineer()).post("/api/scenarios", {"site": site.slug, **QUICK}, format="json")

    details = assert_error(refused, 429, "too_many_scenarios")
    assert list(details) == ["created_by"] and user.username in details["created_by"][0]
    assert accepted.status_code == 202  # another engineer still has room on the site


def test_a_redelivered_run_whose_worker_is_gone_is_marked_failed(site):
    scenario = queue(site, "running")  # claimed by a worker that then died: nobody holds its run lock

    assert run_scenario_task(scenario.pk) == "failed"

    scenario.refresh_from_db()
    assert scenario.status == "failed" and "worker running it was lost" in scenario.error
    assert scenario.finished_at is not None


def test_a_duplicate_delivery_while_the_run_goes_on_does_nothing(site, other_session):
    scenario = queue(site, "running")
    other_session(runner.RUN_LOCK, scenario.pk)  # the worker running it is alive

    assert run_scenario_task(scenario.pk) is None
    assert fail_lost_scenarios_task() == []

    scenario.refresh_from_db()
    assert scenario.status == "running"


def test_the_sweep_fails_only_running_scenarios_without_a_worker(site, other_session):
    alive, lost, waiting = queue(site, "running"), queue(site, "running"), queue(site)
    other_session(runner.RUN_LOCK, alive.pk)

    assert fail_lost_scenarios_task() == [lost.pk]

    statuses = dict(Scenario.objects.values_list("pk", "status"))
    assert statuses == {alive.pk: "running", lost.pk: "failed", waiting.pk: "queued"}


def test_a_failed_scenario_can_be_run_again_and_a_running_one_cannot(site, other_session):
    client = client_for(engineer())
    failed = queue(site, "failed")
    running = queue(site, "running")
    other_session(runner.RUN_LOCK, running.pk)

    again = client.post(f"/api/scenarios/{failed.pk}/rerun")
    refused = client.post(f"/api/scenarios/{running.pk}/rerun")

    assert again.status_code == 202, again.content
    body = again.json()
    assert body["id"] != failed.pk and body["status"] == "queued" and body["request"] == failed.request
    assert_error(refused, 409, "conflict")
    assert refused.json()["error"]["message"] == f"scenario #{running.pk} is running: cancel it first"
    assert run_scenario_task(body["id"]) == "done"


def test_cancelling_a_running_scenario_whose_worker_is_gone_cancels_it_at_once(site):
    """A live run is asked to stop at its next check (test_scenarios_api); a lost one would never see it."""
    orphan = queue(site, "running")

    body = client_for(engineer()).post(f"/api/scenarios/{orphan.pk}/cancel").json()

    assert body["status"] == "cancelled" and "worker was lost" in body["error"] and body["finished_at"]


def test_a_second_retraining_is_refused_while_one_runs(other_session):
    other_session(registry.RETRAIN_LOCK)  # a retraining running in another process

    with pytest.raises(CommandError, match="retraining is already running"):
        call_command("retrain_models")
    response = client_for(engineer()).post("/api/ml/models/retrain", {}, format="json")
    assert_error(response, 409, "conflict")
    assert "already running" in response.json()["error"]["message"]
    assert retrain_models_task() == []  # the queued task skips itself
    assert registry.retrain_running()
