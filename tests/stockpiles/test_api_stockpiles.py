import pytest

from stockpiles.models import Stockpile
from stockpiles.selectors import stockpile_rows
from tests.apiclients import assert_error, role_client
from tests.factories import MaterialFactory, StockpileFactory

pytestmark = pytest.mark.django_db


def test_the_stockpile_list_returns_the_live_rows_and_filters():
    pile = StockpileFactory(material=None, status="low")
    ore = MaterialFactory(site=pile.site, kind="ore")
    StockpileFactory(site=pile.site, material=ore)
    viewer = role_client("viewer")

    body = viewer.get("/api/stockpiles").json()

    assert body["results"] == stockpile_rows()
    assert viewer.get("/api/stockpiles?status=low").json()["count"] == 1
    assert viewer.get("/api/stockpiles?material_kind=ore").json()["count"] == 1
    assert viewer.get(f"/api/stockpiles/{pile.pk}").json()["level_t"] == 30_000.0


def test_operators_set_the_reclaim_rate():
    pile = StockpileFactory()

    response = role_client("operator").patch(
        f"/api/stockpiles/{pile.pk}", {"reclaim_rate_tph": 1800}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["reclaim_rate_tph"] == 1800.0
    assert Stockpile.objects.get(pk=pile.pk).reclaim_rate_tph == 1800.0


@pytest.mark.parametrize("value", [-1, 20_001, "lots", None])
def test_a_reclaim_rate_out_of_range_is_400(value):
    pile = StockpileFactory()

    response = role_client("operator").patch(
        f"/api/stockpiles/{pile.pk}", {"reclaim_rate_tph": value}, format="json"
    )

    assert "reclaim_rate_tph" in assert_error(response, 400, "invalid")


def test_viewers_cannot_set_the_reclaim_rate():
    pile = StockpileFactory()

    response = role_client("viewer").patch(
        f"/api/stockpiles/{pile.pk}", {"reclaim_rate_tph": 10}, format="json"
    )

    assert_error(response, 403, "permission_denied")
