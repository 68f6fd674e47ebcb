"""The current shift's KPIs, computed by the tick once a simulated minute, answer
/api/mining/kpis?window=shift while the site's clock is in that minute (analytics.kpis.live): a lookup, the
same figures, never another shift's, another site's or figures that telemetry has since changed."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.kpis import kept, live
from fleet import seeding
from fleet.ingest import ingest_telemetry
from fleet.models import Site
from fleet.ticking import tick_site
from tests.apiclients import role_client
from tests.factories import reading

pytestmark = pytest.mark.django_db

SHIFT = "/api/mining/kpis?window=shift"


def ledger_reads(client, url: str) -> tuple[dict, int]:
    """The answer and how many of its queries read the KPI ledgers."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.json(), sum("analytics_kpiledger" in query["sql"] for query in queries)


@pytest.fixture
def ticked(django_capture_on_commit_callbacks):
    """A site whose last tick crossed a simulated minute, its on-commit work (publish, keep) done."""
    site = seeding.seed_site(name="Kept pit", trucks=3, crushers=1, stockpiles=1, seed=5).site
    start = dt.datetime(2026, 1, 5, 1, 0, 10, tzinfo=dt.UTC)
    with django_capture_on_commit_callbacks(execute=True):
        tick_site(site.pk, now=start, dt_s=10.0)
        seconds = Site.objects.get(pk=site.pk).sim_clock.timestamp() % 60
        tick_site(site.pk, now=start + dt.timedelta(seconds=5), dt_s=65.0 - seconds)  # to 5 s past the next
    site.refresh_from_db()
    assert site.sim_clock.second == 5  # 5 s into a minute, its figures kept
    return site


def test_the_current_shift_is_answered_from_the_ticks_figures_without_reading_the_ledgers(ticked):
    client = role_client("viewer")

    body, reads = ledger_reads(client, SHIFT)

    assert reads == 0
    assert body["as_of"] == live.json_ready({"t": ticked.sim_clock})["t"]
    computed = live.current_shift(ticked)  # the same figures, computed now from the ledgers
    assert body == computed
    assert body["trucks"]["truck_hours"] > 0


def test_other_windows_and_the_next_minute_are_computed(ticked):
    client = role_client("viewer")
    assert ledger_reads(client, "/api/mining/kpis?window=24h")[1] > 0
    assert ledger_reads(client, "/api/mining/kpis")[1] > 0  # default 24h

    later = ticked.sim_clock + dt.timedelta(seconds=60)
    Site.objects.filter(pk=ticked.pk).update(sim_clock=later)  # a minute on, its figures not kept yet
    body, reads = ledger_reads(client, SHIFT)

    assert reads > 0 and body["as_of"] == live.json_ready({"t": later})["t"]


def test_a_renamed_site_is_computed_with_its_new_name(ticked):
    Site.objects.filter(pk=ticked.pk).update(name="Renamed pit")

    body, reads = ledger_reads(role_client("viewer"), SHIFT)

    assert reads > 0 and body["site"]["name"] == "Renamed pit"


def test_figures_kept_for_another_site_under_the_same_id_are_not_served(ticked):
    figures = kept.load(ticked)
    Site.objects.filter(pk=ticked.pk).update(created_at=ticked.created_at + dt.timedelta(seconds=1))
    ticked.refresh_from_db()

    assert figures is not None and kept.load(ticked) is None
    assert ledger_reads(role_client("viewer"), SHIFT)[1] > 0


def test_telemetry_into_the_ledgers_drops_the_kept_figures(ticked, django_capture_on_commit_callbacks):
    truck = ticked.trucks.order_by("pk").first()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    item = {**reading("truck", truck.pk, now - dt.timedelta(seconds=1), "hauling"), "kind": "truck"}
    item["ts"] = item["ts"].isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        report = ingest_telemetry(items=[item], now=now)
    assert report.accepted == 1, report.rejected

    assert kept.load(ticked) is None
    assert ledger_reads(role_client("viewer"), SHIFT)[1] > 0
