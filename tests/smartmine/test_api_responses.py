"""Every list the schema describes, holding rows, answers exactly what its 200 schema says.

The fuzzing (test_api_fuzz.py) meets mostly empty lists, and an empty page fits a wrong item schema too:
`/api/ml/recommendations` was documented as a page of pages until recommendations existed.
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import response_schema_conformance

from analytics.recommendations.models import Recommendation
from analytics.scenarios.models import Scenario
from fleet import seeding
from tests.apiclients import wsgi_app
from tests.factories import AlertFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

#: Lists answered from rows this test does not make: trained models (the ML integration tests cover them),
#: and /api/health, 503 by design without a worker.
NOT_HERE = {"/api/health", "/api/ml/models", "/api/ml/health-prediction"}


@pytest.fixture
def site_with_rows():
    site = seeding.seed_site(name="Rows pit", trucks=2, crushers=1, stockpiles=1, loaders=2).site
    truck = site.trucks.first()
    AlertFactory(equipment=truck)
    now = dt.datetime.now(dt.UTC)
    Recommendation.objects.create(
        site=site,
        kind="maintenance",
        subject=f"truck:{truck.pk}",
        priority="medium",
        title=f"Service {truck.name} at the shift change",
        reasoning="a 44% chance of breaking down within 24 h",
        expected_impact="1.8 h of unplanned downtime avoided",
        expires_at=now + dt.timedelta(hours=1),
    )
    Scenario.objects.create(site=site, name="one more truck", request={"add_trucks": 1})
    return site


def test_every_list_with_rows_matches_its_response_schema(site_with_rows):
    token = Token.objects.create(user=UserFactory(is_staff=True, is_superuser=True)).key
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app())
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET" or "{" in operation.path or operation.path in NOT_HERE:
            continue
        required = [p.name for p in operation.query if p.is_required]
        assert set(required) <= {"site"}, f"{operation.path}: give this test a value for {required}"
        query = {"site": site_with_rows.pk} if required else None
        case = operation.Case(headers={"Authorization": f"Token {token}"}, query=query)
        response = case.call()
        assert response.status_code == 200, (operation.path, response.text[:300])
        body = response.json()
        if isinstance(body, dict) and "results" in body:
            assert body["results"], f"{operation.path}: the test meant to check a page with rows"
        case.validate_response(response, checks=[response_schema_conformance])
        checked.append(operation.path)

    assert {"/api/ml/recommendations", "/api/alerts", "/api/scenarios", "/api/trucks"} <= set(checked)
