import pytest
from django_celery_beat.models import PeriodicTask

from fleet import schedules
from fleet.models import Site
from tests.apiclients import assert_error, role_client
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def test_sites_list_and_detail():
    site = SiteFactory(name="West pit", slug="west-pit")

    body = role_client("viewer").get("/api/sites").json()

    assert [row["slug"] for row in body["results"]] == ["west-pit"]
    detail = role_client("viewer").get(f"/api/sites/{site.pk}").json()
    assert detail["dispatch_strategy"] == "shortest_queue" and detail["paused"] is False


def test_engineers_change_the_dispatch_strategy_and_pause_the_site_and_its_beat_entry():
    site = SiteFactory()
    schedules.sync_tick_schedules(interval_s=5)

    response = role_client("engineer").patch(
        f"/api/sites/{site.pk}", {"dispatch_strategy": "optimiser", "paused": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["dispatch_strategy"] == "optimiser" and response.json()["paused"] is True
    site.refresh_from_db()
    assert site.dispatch_strategy == "optimiser" and site.paused
    assert not PeriodicTask.objects.get(args=f"[{site.pk}]").enabled


@pytest.mark.parametrize("role", ["viewer", "operator", "gateway"])
def test_only_engineers_configure_sites(role):
    site = SiteFactory()

    response = role_client(role).patch(f"/api/sites/{site.pk}", {"paused": True}, format="json")

    assert_error(response, 403, "permission_denied")
    assert not Site.objects.get(pk=site.pk).paused


@pytest.mark.parametrize(
    ("body", "field"), [({"dispatch_strategy": "random"}, "dispatch_strategy"), ({}, "non_field_errors")]
)
def test_bad_site_changes_are_400(body, field):
    site = SiteFactory()

    details = assert_error(
        role_client("engineer").patch(f"/api/sites/{site.pk}", body, format="json"), 400, "invalid"
    )

    assert field in details


def test_sites_cannot_be_created_or_deleted_through_the_api():
    site = SiteFactory()
    engineer = role_client("engineer")

    assert_error(engineer.delete(f"/api/sites/{site.pk}"), 405, "method_not_allowed")
    assert_error(engineer.post("/api/sites", {"name": "x"}, format="json"), 405, "method_not_allowed")
