"""The dashboard page and its layout endpoint, through Django's test client (the browser test is apart)."""

import json

import pytest
from django.test import Client

from fleet import seeding
from tests.apiclients import assert_error, role_client
from tests.factories import UserFactory, operator

pytestmark = pytest.mark.django_db


def page_config(response) -> dict:
    """The settings the page hands its script, from the json_script block."""
    html = response.content.decode()
    start = html.index('<script id="dashboard-config" type="application/json">') + len(
        '<script id="dashboard-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_page_asks_anonymous_visitors_to_sign_in_when_anonymous_read_is_off(settings):
    settings.API_ALLOW_ANONYMOUS_READ = False

    response = Client().get("/?site=3")

    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/%3Fsite%3D3"


def test_the_page_is_open_to_anonymous_visitors_in_the_demo_but_without_acknowledging(settings):
    settings.API_ALLOW_ANONYMOUS_READ = True

    response = Client().get("/")

    assert response.status_code == 200
    config = page_config(response)
    assert config["canAcknowledge"] is False and config["canDecide"] is False and config["username"] is None
    assert config["wsPath"] == "/ws/live/" and config["site"] is None
    assert b"dashboard/vendor/uplot/uPlot.iife.min.js" in response.content
    assert b"https://" not in response.content  # nothing is loaded from the internet


def test_operators_get_the_acknowledge_buttons_and_viewers_do_not(settings):
    settings.API_ALLOW_ANONYMOUS_READ = False
    operators, viewers = Client(), Client()
    operators.force_login(operator())
    viewers.force_login(UserFactory(is_staff=False))

    seen_by_operator = page_config(operators.get("/?site=2"))
    seen_by_viewer = page_config(viewers.get("/"))

    assert seen_by_operator["canAcknowledge"] is True and seen_by_operator["site"] == 2
    assert seen_by_viewer["canAcknowledge"] is False


def test_the_layout_has_what_the_map_draws_under_the_equipment():
    site = seeding.seed_site(name="Layout pit", trucks=2, crushers=1, stockpiles=1, loaders=2).site

    response = role_client("viewer").get(f"/api/sites/{site.pk}/layout")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["site"]["id"] == site.pk
    assert body["zones"] and all(len(zone["polygon"]) >= 3 for zone in body["zones"])
    assert body["haul_roads"] and all(len(road["polyline"]) >= 2 for road in body["haul_roads"])
    assert [dump["name"] for dump in body["waste_dumps"]] == ["WD-01"]
    assert body["fuel_bays"] and {"lat", "lon", "name"} <= set(body["fuel_bays"][0])
    assert role_client("viewer").get(f"/api/sites/{site.pk}/layout/").status_code == 200


def test_the_layout_of_an_unknown_site_is_a_404_and_anonymous_callers_need_a_login(settings):
    settings.API_ALLOW_ANONYMOUS_READ = False

    assert_error(role_client("viewer").get("/api/sites/999999/layout"), 404, "not_found")
    assert_error(role_client("anonymous").get("/api/sites/999999/layout"), 401, "not_authenticated")
