"""KPI ledgers (docs/kpis.md): kept by `simulate`, the tick and telemetry ingest in the readings' transaction,
they give the same figures as the raw history, and `rebuild_kpi_ledgers` builds the same ledgers again."""

import asyncio
import datetime as dt
import io
import json
import math

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.management import call_command

from analytics.kpis import formulas, selectors
from analytics.kpis.ledger import Accumulator
from analytics.kpis.models import KpiLedger, KpiLedgerSpan
from fleet import seeding
from fleet.ingest import ingest_telemetry
from fleet.management.commands.simulate import STEP_S
from fleet.models import Site, Truck, TruckReading
from fleet.ticking import tick_site
from smartmine.platform import live
from tests.apiclients import role_client
from tests.factories import reading

#: Agreement asked for: 0.5 % on every figure.
TOLERANCE = 0.005


def leaves(value, path=""):
    """Every number of a KPI response, by its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, float(value)


def disagreements(site_id: int, start: dt.datetime, end: dt.datetime, clock=None) -> list[tuple]:
    """Figures of the window that differ by more than TOLERANCE between the ledgers and raw history.

    With a `clock` at the window's end, the window is the current shift: everything up to and including the
    clock, so an event stamped at the clock (the last step's) counts, and raw history is read to just past it.
    """
    ledger = formulas.mine_kpis(selectors.kpi_aggregates(site_id, start=start, end=end, clock=clock))
    raw_end = end + dt.timedelta(microseconds=1) if clock is not None and end >= clock else end
    raw = formulas.mine_kpis(selectors.kpi_aggregates(site_id, start=start, end=raw_end, raw=True))
    ledger_leaves, raw_leaves = dict(leaves(ledger)), dict(leaves(raw))
    assert ledger_leaves.keys() == raw_leaves.keys()
    worst = max(
        ledger_leaves,
        key=lambda path: abs(ledger_leaves[path] - raw_leaves[path]) / max(abs(raw_leaves[path]), 1e-9),
    )
    print(
        f"\n{start:%H:%M:%S}-{end:%H:%M:%S}: {len(raw_leaves)} figures, the furthest apart {worst}: "
        f"raw {raw_leaves[worst]:.6g}, ledgers {ledger_leaves[worst]:.6g}"
    )
    return [
        (path, raw_leaves[path], value)
        for path, value in ledger_leaves.items()
        if not math.isclose(value, raw_leaves[path], rel_tol=TOLERANCE, abs_tol=1e-6)
    ]


# --- the pure arithmetic


def test_a_status_holds_until_the_next_reading_split_at_the_hour():
    accumulator = Accumulator()
    accumulator.reading("truck", 1, 3590.0, {"status": "hauling", "fuel_l": 100.0})
    accumulator.reading("truck", 1, 3620.0, {"status": "dumping", "fuel_l": 98.5})
    assert accumulator.rows[(0, "truck", 1)]["hauling_s"] == 10.0
    assert accumulator.rows[(3600, "truck", 1)]["hauling_s"] == 20.0
    assert accumulator.rows[(3600, "truck", 1)]["fuel_burned_l"] == 1.5


def test_a_gap_in_telemetry_holds_at_most_five_minutes_and_a_refuel_burns_nothing():
    accumulator = Accumulator()
    accumulator.reading("truck", 1, 0.0, {"status": "waiting", "fuel_l": 100.0})
    accumulator.reading("truck", 1, 3000.0, {"status": "waiting", "fuel_l": 900.0})
    assert accumulator.rows[(0, "truck", 1)]["waiting_s"] == 300.0
    assert accumulator.rows[(0, "truck", 1)]["fuel_burned_l"] == 0.0


def test_a_queue_at_a_dump_belongs_to_the_latest_queued_event_and_loads_count_payload_bands():
    accumulator = Accumulator()
    accumulator.reading("truck", 1, 0.0, {"status": "hauling"})
    accumulator.event(5.0, "queued", "truck", 1, {"at": "crusher"})
    accumulator.reading("truck", 1, 10.0, {"status": "queued_at_dump"})
    accumulator.event(25.0, "queued", "truck", 1, {"at": "dump"})  # from the next reading on
    accumulator.reading("truck", 1, 40.0, {"status": "queued_at_dump"})
    accumulator.reading("truck", 1, 45.0, {"status": "dumping"})
    accumulator.event(
        50.0, "loaded", "truck", 1, {"loader_id": 4, "payload_t": 250.0, "rated_payload_t": 200.0}
    )
    row = accumulator.rows[(0, "truck", 1)]
    assert (row["queue_at_crusher_s"], row["queue_at_dump_s"]) == (30.0, 5.0)
    assert (row["loads"], row["rated_loads"], row["over_110"], row["over_120"]) == (1, 1, 1, 1)
    assert accumulator.rows[(0, "loader", 4)]["loads"] == 1


def test_a_reading_older_than_the_units_latest_adds_nothing():
    accumulator = Accumulator()
    accumulator.reading("crusher", 2, 100.0, {"status": "running", "throughput_tph": 3600.0})
    accumulator.reading("crusher", 2, 50.0, {"status": "idle", "throughput_tph": 0.0})
    accumulator.reading("crusher", 2, 110.0, {"status": "idle", "throughput_tph": 0.0})
    assert accumulator.rows[(0, "crusher", 2)]["running_s"] == 10.0
    assert accumulator.rows[(0, "crusher", 2)]["crushed_t"] == 10.0
    assert accumulator.rows[(0, "crusher", 2)]["readings"] == 2


# --- against PostgreSQL


@pytest.mark.django_db
@pytest.mark.slow
def test_a_simulated_day_from_the_ledgers_agrees_with_the_raw_history_and_a_rebuild_gives_the_same():
    call_command("simulate", hours=24, seed=7, stdout=io.StringIO())
    site = Site.objects.get(name=seeding.DEFAULT_SITE_NAME)
    trucks = TruckReading.objects.filter(equipment__site=site)
    first, last = trucks.order_by("ts").first().ts, trucks.order_by("-ts").first().ts
    end = last + dt.timedelta(seconds=STEP_S)
    # nothing before the first reading: the ledgers are whole from its hour
    assert KpiLedgerSpan.objects.get(site=site).since == first.replace(minute=0, second=0, microsecond=0)
    _, plan = selectors.window_parts(site.pk, start=first, end=end)
    assert plan["ledger"][1] - plan["ledger"][0] >= dt.timedelta(hours=23)  # whole hours from the ledgers
    whole = (plan["ledger"][0], plan["ledger"][1])
    for start, stop in [(first, end), whole, (first + dt.timedelta(minutes=17), end - dt.timedelta(hours=3))]:
        assert disagreements(site.pk, start, stop) == [], (start, stop)
    # the current shift as the API asks for it: up to the site's clock, whose last step may end in an event
    clock = Site.objects.get(pk=site.pk).sim_clock
    shift_start, _ = formulas.window("shift", clock, site.timezone)
    assert disagreements(site.pk, max(shift_start, first), clock, clock=clock) == []

    before = sorted(
        KpiLedger.objects.filter(site=site).values_list("hour", "unit_kind", "unit_id", "hauling_s")
    )
    out = io.StringIO()
    call_command("rebuild_kpi_ledgers", site=site.slug, stdout=out)
    assert "day 1/" in out.getvalue() and "ledger rows in" in out.getvalue()
    after = sorted(
        KpiLedger.objects.filter(site=site).values_list("hour", "unit_kind", "unit_id", "hauling_s")
    )
    assert [row[:3] for row in after] == [row[:3] for row in before]
    assert all(math.isclose(a[3], b[3], abs_tol=1e-6) for a, b in zip(after, before, strict=True))
    assert disagreements(site.pk, first, end) == []


@pytest.mark.django_db
def test_ticks_add_to_the_ledgers_in_their_transaction_and_agree_with_the_raw_history():
    site = seeding.seed_site(name="Ledger pit", trucks=6, crushers=1, stockpiles=1, seed=3).site
    start = dt.datetime(2026, 1, 5, 1, 50, tzinfo=dt.UTC)
    for number in range(90):
        tick_site(site.pk, now=start + dt.timedelta(seconds=10 * number), dt_s=10.0)
    site.refresh_from_db()
    hours = set(KpiLedger.objects.filter(site=site).values_list("hour", flat=True))
    assert len(hours) >= 1
    since = KpiLedgerSpan.objects.get(site=site).since
    assert disagreements(site.pk, since, site.sim_clock + dt.timedelta(seconds=10)) == []
    response = role_client("viewer").get("/api/mining/kpis", {"site": site.slug, "window": "shift"})
    assert response.status_code == 200, response.content


@pytest.mark.django_db
def test_telemetry_of_a_live_truck_adds_to_its_ledger():
    site = seeding.seed_site(name="Telemetry pit", trucks=2, crushers=1, stockpiles=1, seed=3).site
    truck = Truck.objects.filter(site=site).first()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    items = [
        {**reading("truck", truck.pk, now - dt.timedelta(seconds=s), status, fuel_l=fuel), "kind": "truck"}
        for s, status, fuel in [(40, "hauling", 500.0), (20, "hauling", 498.0), (0, "dumping", 497.0)]
    ]
    for item in items:
        item["ts"] = item["ts"].isoformat()
    report = ingest_telemetry(items=items, now=now)
    assert report.accepted == 3, report.rejected
    rows = KpiLedger.objects.filter(site=site, unit_kind="truck", unit_id=truck.pk)
    assert sum(row.hauling_s for row in rows) == pytest.approx(40.0)
    assert sum(row.fuel_burned_l for row in rows) == pytest.approx(3.0)
    assert sum(row.readings for row in rows) == 3


@pytest.mark.django_db(transaction=False)  # on_commit callbacks are captured, not run, in a test transaction
def test_a_tick_that_crosses_a_simulated_minute_publishes_the_shifts_kpis_after_commit(
    django_capture_on_commit_callbacks,
):
    site = seeding.seed_site(name="Minute pit", trucks=3, crushers=1, stockpiles=1, seed=3).site
    start = dt.datetime(2026, 1, 5, 1, 0, 10, tzinfo=dt.UTC)
    tick_site(site.pk, now=start, dt_s=10.0)
    # the simulated clock starts where seeding left it: bring it to 5 s past a minute first
    seconds = Site.objects.get(pk=site.pk).sim_clock.timestamp() % 60
    tick_site(site.pk, now=start, dt_s=(65.0 - seconds) % 60 or 60.0)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tick_site(site.pk, now=start + dt.timedelta(seconds=10), dt_s=10.0)  # within the same minute
    assert [c for c in callbacks if c.__qualname__.startswith("publish_each_minute")] == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tick_site(site.pk, now=start + dt.timedelta(seconds=60), dt_s=50.0)
    [publish] = [c for c in callbacks if c.__qualname__.startswith("publish_each_minute")]

    async def listen_while_committing() -> dict:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(live.channel_group("kpis", site.pk), channel)
        await sync_to_async(publish)()
        return await asyncio.wait_for(layer.receive(channel), 5)

    frame = json.loads(async_to_sync(listen_while_committing)()["text"])
    assert frame["type"] == "kpi_update" and frame["site"] == site.pk
    [figures] = frame["data"]
    assert figures["window"]["name"] == "shift" and figures["trucks"]["truck_hours"] > 0
    assert set(figures) >= {"tonnes", "truck_cycle", "crushers", "stockpiles", "coverage"}
