import pytest

from plants.selectors import crusher_rows
from tests.apiclients import role_client
from tests.factories import CrusherFactory

pytestmark = pytest.mark.django_db


def test_the_crusher_list_returns_the_live_rows_with_utilisation():
    crusher = CrusherFactory(throughput_tph=1500.0, rated_capacity_tph=2000.0, status="running")
    CrusherFactory(site=crusher.site, status="idle")
    viewer = role_client("viewer")

    body = viewer.get("/api/crushers").json()

    assert body["results"] == crusher_rows()
    assert viewer.get(f"/api/crushers/{crusher.pk}").json()["utilisation_pct"] == 75.0
    assert viewer.get("/api/crushers?status=running").json()["count"] == 1
    assert viewer.get(f"/api/crushers?site={crusher.site.slug}").json()["count"] == 2
