"""The schema is the truth: query parameters it does not allow are refused naming them (docs/api.md)."""

import pytest

from tests.apiclients import assert_error, role_client
from tests.factories import SiteFactory, TruckFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer():
    return role_client("viewer")


def test_an_unknown_query_parameter_is_refused_naming_it_and_the_accepted_ones(viewer):
    details = assert_error(viewer.get("/api/trucks?bogus=1"), 400, "invalid")

    assert list(details) == ["bogus"]
    assert "limit, live, loader, offset, site, status, telemetry, zone" in details["bogus"][0]


def test_a_detail_without_parameters_refuses_any_too(viewer):
    truck = TruckFactory()

    assert_error(viewer.get(f"/api/trucks/{truck.pk}?format=xml"), 400, "invalid")
    assert viewer.get(f"/api/trucks/{truck.pk}").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("limit=-1", "limit"),
        ("offset=-1", "offset"),
        ("offset=null", "offset"),
        ("offset=1&offset=2", "offset"),
        ("live=null", "live"),
        ("loader=1.5", "loader"),
        ("zone=0", "zone"),
        ("site=", "site"),
        ("site=a%00b", "site"),
    ],
)
def test_a_value_outside_its_declared_schema_is_refused_naming_the_parameter(viewer, query, field):
    details = assert_error(viewer.get(f"/api/trucks?{query}"), 400, "invalid")

    assert list(details) == [field]


def test_an_empty_value_of_an_enumeration_is_refused_listing_the_accepted_ones(viewer):
    """django-filter reads an empty choice as no filter; the schema's enum does not allow it."""
    details = assert_error(viewer.get("/api/alerts?equipment_kind="), 400, "invalid")

    assert details == {
        "equipment_kind": ["`equipment_kind` is empty: give one of crusher, loader, stockpile, truck"]
    }


def test_values_the_schema_allows_are_served(viewer):
    site = SiteFactory(slug="west-pit")
    TruckFactory(site=site)

    for query in ("limit=5000&offset=0", "live=false", "site=west-pit", f"site={site.pk}", "status=hauling"):
        assert viewer.get(f"/api/trucks?{query}").status_code == 200, query


@pytest.mark.parametrize("path", ["/api/trucks", "/api/alerts", "/api/scenarios", "/api/ml/recommendations"])
def test_a_site_that_does_not_exist_is_a_404_on_lists(viewer, path):
    assert_error(viewer.get(f"{path}?site=no-such-pit"), 404, "not_found")


def test_a_query_time_must_be_a_date_time(viewer):
    details = assert_error(viewer.get("/api/mining/kpis?to="), 400, "invalid")

    assert "ISO 8601" in details["to"][0]


def test_literal_paths_are_not_read_as_an_id(viewer):
    """/api/alerts/performance takes `hours`; /api/alerts/{id} takes nothing."""
    site = SiteFactory()

    assert viewer.get(f"/api/alerts/performance?site={site.pk}&hours=24").status_code == 200


def test_a_patch_without_a_field_is_refused_as_the_schema_says():
    site = SiteFactory()
    engineer = role_client("engineer")

    assert_error(engineer.patch(f"/api/sites/{site.pk}", {}, format="json"), 400, "invalid")
    details = assert_error(
        engineer.patch(f"/api/sites/{site.pk}", {"paused": 1}, format="json"), 400, "invalid"
    )
    assert list(details) == ["paused"]  # JSON true or false only
    schema = role_client("viewer").get("/api/schema/?format=json").json()
    rules = schema["components"]["schemas"]["PatchedSiteUpdateRequest"]["anyOf"]
    assert rules == [{"required": ["dispatch_strategy"]}, {"required": ["paused"]}]
    assert schema["components"]["schemas"]["PatchedStockpileUpdateRequest"]["required"] == [
        "reclaim_rate_tph"
    ]


def test_every_operation_documents_400_for_its_query_parameters(viewer):
    schema = viewer.get("/api/schema/?format=json").json()

    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert "400" in operation["responses"], (method, path)


def test_a_page_of_health_predictions_takes_the_limit_its_schema_declares(viewer):
    SiteFactory()

    assert viewer.get("/api/ml/health-prediction?limit=500&offset=0").status_code == 200
    assert_error(viewer.get("/api/ml/health-prediction?page_size=500"), 400, "invalid")


def test_the_answers_kept_by_the_tick_document_if_none_match_and_304(viewer):
    schema = viewer.get("/api/schema/?format=json").json()
    conditional = {
        path for path, item in schema["paths"].items() if "304" in item.get("get", {}).get("responses", {})
    }

    assert conditional == {
        "/api/trucks", "/api/loaders", "/api/crushers", "/api/stockpiles", "/api/mining/zones",
        "/api/mining/kpis",
    }  # fmt: skip
    for path in conditional:
        operation = schema["paths"][path]["get"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"If-None-Match"}, path
        assert "ETag" in operation["responses"]["304"]["headers"]
        assert "ETag" in operation["responses"]["200"]["headers"]
    assert not any("304" in item.get("patch", {}).get("responses", {}) for item in schema["paths"].values())
