"""OPTIONS answers 200 on every operation of the OpenAPI schema, and an unsupported method 405 with `Allow`.

The paths come from /api/schema itself, so a new endpoint is covered the day it is documented; its `{id}`
is filled from ID_OF, which fails loudly for a resource it does not know yet.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics.models import Recommendation
from analytics.scenarios.models import Scenario
from fleet.models import Loader, MiningZone, Truck
from fleet.seeding import seed_site
from plants.models import Crusher
from stockpiles.models import Stockpile
from tests.apiclients import assert_error, client_for, role_client
from tests.factories import AlertFactory

pytestmark = pytest.mark.django_db

#: The resource a path's `{id}` names, by the path's first segments.
ID_OF = {
    "/api/alerts/": "alert",
    "/api/crushers/": "crusher",
    "/api/loaders/": "loader",
    "/api/mining/zones/": "zone",
    "/api/ml/recommendations/": "recommendation",
    "/api/scenarios/": "scenario",
    "/api/sites/": "site",
    "/api/stockpiles/": "stockpile",
    "/api/trucks/": "truck",
}


@pytest.fixture
def ids() -> dict[str, int]:
    site = seed_site(name="Options pit", trucks=2, crushers=1, stockpiles=1, loaders=2).site
    truck = Truck.objects.filter(site=site).first()
    recommendation = Recommendation.objects.create(
        site=site, kind="maintenance", subject=f"truck:{truck.pk}", title=f"Service {truck.name}",
        reasoning="failure probability 0.8", expected_impact="+1,200 t",
        expires_at=timezone.now() + dt.timedelta(hours=1),
    )  # fmt: skip
    return {
        "site": site.pk,
        "truck": truck.pk,
        "loader": Loader.objects.filter(site=site).first().pk,
        "zone": MiningZone.objects.filter(site=site).first().pk,
        "crusher": Crusher.objects.filter(site=site).first().pk,
        "stockpile": Stockpile.objects.filter(site=site).first().pk,
        "alert": AlertFactory(equipment=truck).pk,
        "recommendation": recommendation.pk,
        "scenario": Scenario.objects.create(site=site, name="Two more trucks").pk,
    }


def _operations() -> dict[str, set[str]]:
    """Every documented path and its methods, from the schema the API serves."""
    paths = client_for(None).get("/api/schema?format=json").json()["paths"]
    return {
        path: {method.upper() for method in item if method != "parameters"} for path, item in paths.items()
    }


def _url(path: str, ids: dict[str, int]) -> str:
    if "{" not in path:
        return path
    prefix = next((prefix for prefix in ID_OF if path.startswith(prefix)), None)
    assert prefix is not None, f"{path}: add the resource its {{id}} names to ID_OF"
    return path.replace("{id}", str(ids[ID_OF[prefix]]))


def _options_failures(client, ids: dict[str, int]) -> dict[str, str]:
    """Each path whose OPTIONS is not a 200 allowing the documented methods, with what it answered."""
    client.raise_request_exception = False  # a 500 is a status to report, with the others
    failures = {}
    for path, methods in _operations().items():
        response = client.options(_url(path, ids))
        allowed = {method.strip() for method in response.get("Allow", "").split(",")}
        if response.status_code != 200 or not methods <= allowed:
            failures[path] = f"{response.status_code}, Allow: {response.get('Allow')}"
    return failures


def test_the_schema_documents_every_endpoint_the_walk_covers(ids):
    operations = _operations()

    assert len(operations) > 40
    assert {"/api/ml/recommendations/{id}/accept", "/api/ml/models/retrain", "/api/scenarios/{id}"} <= set(
        operations
    )


@pytest.mark.parametrize("role", ["viewer", "operator", "engineer", "gateway"])
def test_every_operation_answers_options_to_each_signed_in_role(ids, role):
    assert _options_failures(role_client(role), ids) == {}


def test_every_operation_answers_options_anonymously_where_reads_are_anonymous(ids, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True

    assert _options_failures(client_for(None), ids) == {}


def test_options_describes_the_writes_the_caller_may_make(ids):
    accept = f"/api/ml/recommendations/{ids['recommendation']}/accept"

    assert role_client("operator").options(accept).json()["actions"] == {"POST": {}}  # no body
    assert "actions" not in role_client("viewer").options(accept).json()
    retrain = role_client("engineer").options("/api/ml/models/retrain").json()["actions"]["POST"]
    assert set(retrain) == {"kinds", "force"}
    assert "actions" not in role_client("operator").options("/api/ml/models/retrain").json()


def test_options_does_not_read_the_object(ids, django_assert_max_num_queries):
    engineer = role_client("engineer")

    with django_assert_max_num_queries(3):  # the token and the engineer's permissions, no recommendation
        assert engineer.options("/api/ml/recommendations/999999/accept").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("delete", "/api/trucks/{truck}", "GET, HEAD, OPTIONS"),
        ("put", "/api/sites/{site}", "GET, PATCH, HEAD, OPTIONS"),
        ("get", "/api/ml/recommendations/{recommendation}/accept", "POST, OPTIONS"),
        ("post", "/api/mining/kpis", "GET, HEAD, OPTIONS"),
        ("get", "/api/telemetry", "POST, OPTIONS"),
        ("delete", "/api/ml/models/retrain", "POST, OPTIONS"),
    ],
)
def test_an_unsupported_method_answers_405_with_the_allowed_ones(ids, method, path, allow):
    response = getattr(role_client("engineer"), method)(path.format(**ids))

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == allow
