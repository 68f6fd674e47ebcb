"""POST/GET /api/scenarios: who may do what, what is refused and why, and what a request queues."""

import psycopg
import pytest
from django.test import override_settings

from analytics.scenarios import runner
from analytics.scenarios import tasks as scenario_tasks
from analytics.scenarios.models import Scenario
from fleet import seeding
from smartmine.platform import locks
from smartmine.platform.models import AuditEntry
from tests.apiclients import assert_error, role_client
from tests.processes import current_database_url

pytestmark = pytest.mark.django_db

QUICK = {"shift_hours": 1, "seeds": 2}


@pytest.fixture
def site():
    return seeding.seed_site(name="Scenario pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


@pytest.fixture
def queued(monkeypatch):
    """Scenario ids handed to the worker (the task itself is tested in test_scenarios_lifecycle)."""
    ids: list[int] = []
    monkeypatch.setattr(scenario_tasks.run_scenario_task, "delay", ids.append)
    return ids


def test_engineers_create_a_scenario_that_is_queued_after_commit(
    site, queued, django_capture_on_commit_callbacks
):
    loader = site.loaders.order_by("pk").first()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = role_client("engineer").post(
            "/api/scenarios",
            {"site": site.slug, "name": "SH down", "changes": {"loaders_down": [loader.pk]}, **QUICK},
            format="json",
        )

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["progress_pct"] == 0 and body["kind"] == "what_if"
    assert body["request"]["changes"]["loaders_down"] == [loader.pk]
    assert body["request"]["seeds"] == 2 and body["created_by"].startswith("user")
    assert len(callbacks) == 1 and queued == [body["id"]]
    entry = AuditEntry.objects.get(action="scenario")
    assert entry.detail == {"event": "created", "site": site.pk} and f"#{body['id']}" in entry.target


def test_a_request_with_fleet_sizes_is_a_fleet_sizing_sweep(site, queued):
    response = role_client("engineer").post(
        "/api/scenarios", {"fleet_sizes": [5, 2, 5], **QUICK}, format="json"
    )

    assert response.status_code == 202, response.content
    assert response.json()["kind"] == "fleet_sizing"
    assert response.json()["request"]["fleet_sizes"] == [2, 5]


@pytest.mark.parametrize("role", ["viewer", "operator", "gateway"])
def test_only_engineers_create_scenarios(site, queued, role):
    assert_error(role_client(role).post("/api/scenarios", QUICK, format="json"), 403, "permission_denied")
    assert not Scenario.objects.exists() and not queued


def test_anonymous_users_create_nothing(site):
    assert_error(
        role_client("anonymous").post("/api/scenarios", QUICK, format="json"), 401, "not_authenticated"
    )


def test_viewers_read_scenarios_and_their_results(site):
    scenario = Scenario.objects.create(site=site, request=QUICK, results={"complete": True})
    viewer = role_client("viewer")

    [row] = viewer.get(f"/api/scenarios?site={site.slug}&status=queued").json()["results"]
    assert row["id"] == scenario.pk
    assert viewer.get(f"/api/scenarios/{scenario.pk}").json()["results"] == {"complete": True}
    assert viewer.get("/api/scenarios?status=done").json()["results"] == []


@override_settings(API_ALLOW_ANONYMOUS_READ=False)
def test_anonymous_users_read_nothing_when_the_demo_is_off(site):
    assert_error(role_client("anonymous").get("/api/scenarios"), 401, "not_authenticated")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"changes": {"loaders_down": [999_999]}}, "changes.loaders_down.0"),
        ({"changes": {"add_trucks": -1}}, "changes.add_trucks"),
        ({"changes": {"remove_trucks": -2}}, "changes.remove_trucks"),
        ({"changes": {"add_trucks": 500}}, "changes.add_trucks"),
        ({"changes": {"remove_trucks": 3}}, "changes"),
        ({"changes": {"remove_truck_ids": [999_999]}}, "changes.remove_truck_ids.0"),
        (
            {"changes": {"crusher_capacity": [{"crusher_id": 999_999, "rated_tph": 900}]}},
            "changes.crusher_capacity",
        ),
        (
            {"changes": {"crusher_capacity": [{"crusher_id": 1, "rated_tph": -5}]}},
            "changes.crusher_capacity.0.rated_tph",
        ),
        ({"changes": {"dispatch_strategy": "random"}}, "changes.dispatch_strategy"),
        ({"changes": {"truck_model": "Tonka"}}, "changes.truck_model"),
        ({"changes": {"loaders_down": [1, 1]}}, "changes.loaders_down"),
        ({"seeds": 21}, "seeds"),
        ({"seeds": 0}, "seeds"),
        ({"shift_hours": 25}, "shift_hours"),
        ({"shift_hours": 0}, "shift_hours"),
        ({"fleet_sizes": [501]}, "fleet_sizes.0"),
        ({"fleet_sizes": list(range(1, 14))}, "fleet_sizes"),
        ({"fleet_sizes": [2], "changes": {"add_trucks": 1}}, "fleet_sizes"),
        ({"site": "no-such-pit"}, "site"),
    ],
)
def test_invalid_requests_are_refused_with_the_field_at_fault(site, queued, body, field):
    details = assert_error(
        role_client("engineer").post("/api/scenarios", {**QUICK, **body}, format="json"), 400, "invalid"
    )

    assert field in details, details
    assert not Scenario.objects.exists() and not queued


def test_a_request_beyond_the_work_budget_is_refused(site):
    body = {"changes": {"add_trucks": 400}, "shift_hours": 24, "seeds": 20}

    details = assert_error(
        role_client("engineer").post("/api/scenarios", body, format="json"), 400, "invalid"
    )

    for field in ("seeds", "shift_hours", "changes.add_trucks"):  # each field that spends the budget
        assert "truck-hours" in details[field][0] and "budget is 60,000" in details[field][0]


def test_a_site_that_is_not_simulated_is_refused(site):
    site.__class__.objects.filter(pk=site.pk).update(sim_state={})

    details = assert_error(
        role_client("engineer").post("/api/scenarios", QUICK, format="json"), 400, "invalid"
    )

    assert "not simulated" in details["site"][0]


def test_engineers_cancel_a_queued_scenario_once(site):
    scenario = Scenario.objects.create(site=site, request=QUICK)
    engineer = role_client("engineer")

    body = engineer.post(f"/api/scenarios/{scenario.pk}/cancel").json()

    assert body["status"] == "cancelled" and body["finished_at"] and body["error"]
    assert_error(engineer.post(f"/api/scenarios/{scenario.pk}/cancel"), 409, "conflict")
    assert AuditEntry.objects.filter(action="scenario", detail__event="cancelled").count() == 1


def test_cancelling_a_running_scenario_asks_it_to_stop(site):
    scenario = Scenario.objects.create(site=site, request=QUICK, status="running")

    with psycopg.connect(current_database_url(), autocommit=True) as worker:  # the worker running it
        worker.execute("SELECT pg_advisory_lock(%s, %s)", locks._keys(runner.RUN_LOCK, scenario.pk))
        body = role_client("engineer").post(f"/api/scenarios/{scenario.pk}/cancel").json()

    assert body["status"] == "running" and body["cancel_requested"] is True


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_engineers_cancel(site, role):
    scenario = Scenario.objects.create(site=site, request=QUICK)

    assert_error(role_client(role).post(f"/api/scenarios/{scenario.pk}/cancel"), 403, "permission_denied")
    assert_error(role_client("engineer").post("/api/scenarios/999999/cancel"), 404, "not_found")


def test_the_schema_documents_the_scenario_endpoints():
    schema = role_client("viewer").get("/api/schema?format=json").json()

    assert {"/api/scenarios", "/api/scenarios/{id}", "/api/scenarios/{id}/cancel"} <= set(schema["paths"])
    assert "202" in schema["paths"]["/api/scenarios"]["post"]["responses"]


def test_results_of_a_finished_run_are_shown(site, queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        created = role_client("engineer").post(
            "/api/scenarios", {"changes": {"add_trucks": 1}, **QUICK}, format="json"
        )
    scenario_tasks.run_scenario_task(queued[0])

    body = role_client("viewer").get(f"/api/scenarios/{created.json()['id']}").json()

    assert body["status"] == "done" and body["progress_pct"] == 100 and body["started_at"]
    assert body["results"]["seeds"] == [0, 1]
    assert set(body["results"]) >= {"baseline", "scenario", "difference"}
    assert body["results"]["scenario"]["trucks"] == body["results"]["baseline"]["trucks"] + 1
