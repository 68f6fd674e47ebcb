import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.selectors import loader_rows, truck_rows
from tests.apiclients import assert_error, role_client
from tests.factories import LoaderFactory, SiteFactory, TruckFactory, ZoneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer():
    return role_client("viewer")


def test_the_truck_list_returns_exactly_the_live_rows(viewer):
    site = SiteFactory()
    loader = LoaderFactory(site=site)
    TruckFactory(site=site, name="HT-02", assigned_loader=loader, status="hauling", payload_t=221.5)
    TruckFactory(site=site, name="HT-01")

    response = viewer.get("/api/trucks")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["name"] for row in body["results"]] == ["HT-01", "HT-02"]
    expected = truck_rows(site_id=site.pk)
    for row in expected:
        row["last_reading_at"] = None
    assert body["results"] == expected
    assert body["results"][1]["zone_id"] == loader.zone_id
    assert body["results"][1]["payload_t"] == 221.5


def test_a_trailing_slash_also_works_without_a_redirect(viewer):
    TruckFactory()

    assert viewer.get("/api/trucks/").status_code == 200
    assert viewer.get("/api/trucks").status_code == 200


def test_trucks_filter_by_site_id_or_slug_status_and_zone(viewer):
    site, other = SiteFactory(slug="west-pit"), SiteFactory()
    zone = ZoneFactory(site=site)
    loader = LoaderFactory(site=site, zone=zone)
    hauling = TruckFactory(site=site, status="hauling", assigned_loader=loader)
    loading = TruckFactory(site=site, status="loading")
    TruckFactory(site=other, status="hauling")

    def names(query: str) -> set[str]:
        response = viewer.get(f"/api/trucks?{query}")
        assert response.status_code == 200, response.content
        return {row["name"] for row in response.json()["results"]}

    assert names(f"site={site.pk}") == {hauling.name, loading.name}
    assert names("site=west-pit") == {hauling.name, loading.name}
    assert names(f"site={site.pk}&status=hauling") == {hauling.name}
    assert names(f"site={site.pk}&status=hauling&status=loading") == {hauling.name, loading.name}
    assert names(f"zone={zone.pk}") == {hauling.name}
    assert names("live=true") == set()


def test_an_unknown_status_filter_is_a_400_naming_the_parameter(viewer):
    details = assert_error(viewer.get("/api/trucks?status=parked"), 400, "invalid")

    assert "status" in details


def test_trucks_are_paginated_with_limit_and_offset(viewer):
    site = SiteFactory()
    for n in range(5):
        TruckFactory(site=site, name=f"HT-{n:02d}")

    body = viewer.get("/api/trucks?limit=2&offset=2").json()

    assert body["count"] == 5
    assert [row["name"] for row in body["results"]] == ["HT-02", "HT-03"]
    assert "offset=4" in body["next"]
    assert body["previous"]


@pytest.mark.parametrize("path", ["/api/trucks", "/api/loaders", "/api/crushers", "/api/stockpiles"])
def test_list_queries_stay_constant_as_rows_grow(viewer, path):
    from tests.factories import CrusherFactory, StockpileFactory

    make = {
        "/api/trucks": lambda site: TruckFactory(site=site, assigned_loader=LoaderFactory(site=site)),
        "/api/loaders": lambda site: LoaderFactory(site=site),
        "/api/crushers": lambda site: CrusherFactory(site=site),
        "/api/stockpiles": lambda site: StockpileFactory(site=site),
    }[path]
    site = SiteFactory()
    make(site)
    viewer.get(path)  # warm: token lookup caches nothing, but content types etc. do

    with CaptureQueriesContext(connection) as few:
        assert viewer.get(path).status_code == 200
    for _ in range(20):
        make(site)
    with CaptureQueriesContext(connection) as many:
        response = viewer.get(path)

    assert response.json()["count"] == 21
    assert len(many) == len(few) <= 5  # token + sites' versions (no read model stored) + count + ids + rows


def test_truck_detail_is_the_same_row_and_a_missing_truck_is_a_json_404(viewer):
    truck = TruckFactory(last_reading_at=dt.datetime(2025, 3, 1, 6, tzinfo=dt.UTC))

    response = viewer.get(f"/api/trucks/{truck.pk}")

    assert response.status_code == 200
    assert response.json()["id"] == truck.pk
    assert response.json()["last_reading_at"] == "2025-03-01T06:00:00+00:00"
    assert_error(viewer.get("/api/trucks/999999"), 404, "not_found")
    assert_error(viewer.get("/api/trucks/HT-01"), 404, "not_found")


def test_loaders_list_and_detail_return_the_live_rows(viewer):
    loader = LoaderFactory(status="loading")

    body = viewer.get("/api/loaders").json()

    assert body["results"] == loader_rows()
    assert viewer.get(f"/api/loaders/{loader.pk}").json()["status"] == "loading"
    assert viewer.get(f"/api/loaders?zone={loader.zone_id}").json()["count"] == 1
    assert viewer.get("/api/loaders?status=idle").json()["count"] == 0


def test_zones_list_filter_and_detail(viewer):
    zone = ZoneFactory(name="Z-01", initial_t=1000.0, remaining_t=250.0, material="waste")
    ZoneFactory(site=zone.site, name="Z-02", status="depleted")

    body = viewer.get(f"/api/mining/zones?site={zone.site_id}&status=active").json()

    assert [row["name"] for row in body["results"]] == ["Z-01"]
    detail = viewer.get(f"/api/mining/zones/{zone.pk}").json()
    assert detail["mined_pct"] == 75.0
    assert detail["material"] == "waste"
    assert detail["site_id"] == zone.site_id
    assert viewer.get("/api/mining/zones?material=ore").json()["count"] == 1
