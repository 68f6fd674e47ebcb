"""A `site` query value that only looks like a number ('¹', '٣') is a slug: 404 or empty, never a 500."""

import pytest

from tests.apiclients import role_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["¹", "²³", "٣", "1¹"])
@pytest.mark.parametrize(
    "path", ["/api/ml/health-prediction", "/api/ml/recommendations", "/api/trucks", "/api/scenarios"]
)
def test_a_unicode_digit_site_is_a_slug_that_names_no_site(path, value):
    response = role_client("engineer").get(path, {"site": value})
    assert response.status_code in {200, 400, 404}, response.content
    if response.status_code == 200:
        assert response.json()["count"] == 0
