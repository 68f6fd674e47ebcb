"""The live read model: unfiltered lists from what the tick stored, byte for byte what the database path
answers, and the database path whenever the stored lists could be old (real PostgreSQL and Redis)."""

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from fleet import seeding, services, ticking
from fleet.models import Site, Truck
from smartmine.platform import readmodel
from tests.apiclients import role_client

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = settings.REDIS_URL  # the real one, also while a test points the read model elsewhere
LISTS = ("/api/trucks", "/api/loaders", "/api/crushers", "/api/stockpiles", "/api/mining/zones")


@pytest.fixture
def site():
    site = seeding.seed_site(name="Read model pit", trucks=6, crushers=2, stockpiles=2, loaders=2).site
    readmodel.mark_wanted([site.pk])  # as the first list request of a dashboard does
    yield site
    forget_read_model()


def forget_read_model() -> None:
    """Delete this installation's stored lists and generations, as a Redis flush would."""
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}readmodel.*"):
        client.delete(key)


@pytest.fixture
def viewer():
    return role_client("viewer")


def from_database(viewer, path: str) -> bytes:
    """The same request answered by the database path: the site's stored lists made unusable first."""
    readmodel.invalidate(Truck.objects.values_list("site_id", flat=True).distinct())
    response = viewer.get(path)
    assert response.status_code == 200 and "ETag" not in response
    return response.content


@pytest.mark.parametrize("path", LISTS)
def test_after_a_tick_each_list_answers_from_the_read_model_with_the_database_bytes(site, viewer, path):
    ticking.tick_site(site.pk, dt_s=60)

    stored = viewer.get(path)

    assert stored.status_code == 200 and stored["ETag"] and stored["Content-Type"] == "application/json"
    assert stored["Cache-Control"] == f"private, max-age={round(settings.SIMULATION_INTERVAL_S)}"
    assert stored.json()["count"] > 0
    assert stored.content == from_database(viewer, path)


def test_a_site_nobody_lists_is_not_rendered_by_its_tick_until_a_list_misses(site, viewer):
    forget_read_model()  # the wanted flag too
    ticking.tick_site(site.pk, dt_s=60)
    assert "ETag" not in viewer.get("/api/trucks")  # a miss: answered by the database, and asks for it

    ticking.tick_site(site.pk, dt_s=60)

    assert "ETag" in viewer.get("/api/trucks")


def test_a_list_from_the_read_model_costs_the_token_and_one_small_query(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    viewer.get("/api/trucks")
    with CaptureQueriesContext(connection) as queries:
        assert "ETag" in viewer.get("/api/trucks")
    assert len(queries) == 2, [query["sql"] for query in queries]  # the token, the sites' versions


def test_a_site_filter_by_id_is_served_and_equals_the_database_path(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    stored = viewer.get(f"/api/trucks?site={site.pk}")
    assert "ETag" in stored
    assert stored.content == from_database(viewer, f"/api/trucks?site={site.pk}")


def test_if_none_match_with_the_current_etag_is_a_304_until_the_next_tick(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    etag = viewer.get("/api/trucks")["ETag"]

    unchanged = viewer.get("/api/trucks", HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == etag

    ticking.tick_site(site.pk, dt_s=60)
    changed = viewer.get("/api/trucks", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_filters_and_pagination_parameters_take_the_database_path(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    for query in ("status=hauling", "limit=3", "offset=0", f"site={site.slug}"):
        response = viewer.get(f"/api/trucks?{query}")
        assert response.status_code == 200 and "ETag" not in response, query
    assert viewer.get("/api/trucks?limit=3").json()["next"] is not None


def test_an_operator_change_between_ticks_is_never_hidden_by_the_stored_list(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    truck = Truck.objects.filter(site=site).order_by("name").first()
    assert "ETag" in viewer.get("/api/trucks")

    services.send_to_maintenance(equipment=[truck])

    response = viewer.get("/api/trucks")
    assert "ETag" not in response  # the database answers until the next tick stores the lists again
    row = next(item for item in response.json()["results"] if item["id"] == truck.pk)
    assert row["status"] == "maintenance"
    ticking.tick_site(site.pk, dt_s=60)
    again = viewer.get("/api/trucks")
    assert "ETag" in again
    assert next(item for item in again.json()["results"] if item["id"] == truck.pk)["status"] == "maintenance"


def test_a_flushed_redis_falls_back_to_the_database(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    expected = viewer.get("/api/crushers").content
    forget_read_model()

    response = viewer.get("/api/crushers")

    assert response.status_code == 200 and "ETag" not in response
    assert response.content == expected


def test_a_site_added_since_the_tick_falls_back_and_is_listed(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    second = seeding.seed_site(name="Second pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site

    response = viewer.get("/api/trucks")  # also asks the second site's ticks for its lists

    assert "ETag" not in response
    assert {row["site_id"] for row in response.json()["results"]} == {site.pk, second.pk}
    ticking.tick_site(second.pk, dt_s=60)
    both = viewer.get("/api/trucks")
    assert "ETag" in both and both.json()["count"] == 9
    assert both.content == from_database(viewer, "/api/trucks")


def test_a_tick_older_than_the_site_falls_back(site, viewer):
    ticking.tick_site(site.pk, dt_s=60)
    ticking.tick_site(site.pk, dt_s=60)
    assert "ETag" in viewer.get("/api/trucks")
    # the site moves on without its lists being stored (a headless `simulate`, a lost after-commit hook)
    Site.objects.filter(pk=site.pk).update(tick=F("tick") + 1)

    assert "ETag" not in viewer.get("/api/trucks")


def test_an_unreachable_redis_falls_back_to_the_database(site, viewer, monkeypatch):
    ticking.tick_site(site.pk, dt_s=60)
    expected = viewer.get("/api/stockpiles").content
    monkeypatch.setattr(settings, "REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    monkeypatch.setattr(readmodel, "_client", None)

    response = viewer.get("/api/stockpiles")

    assert response.status_code == 200 and "ETag" not in response and response.content == expected
