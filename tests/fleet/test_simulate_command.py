"""manage.py simulate: headless history through the tick's persistence that ends now; a live clock stays."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from fleet import seeding, ticking
from fleet.management.commands.simulate import BACKFILL_FAULT_IDS_FROM
from fleet.models import FaultLabel, SimEvent, Site, TruckReading

pytestmark = pytest.mark.django_db


def test_it_seeds_a_missing_site_and_stores_an_hour_of_history(settings):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 4, 1, 1
    out = io.StringIO()
    call_command("simulate", site="Headless pit", hours=1, seed=11, stdout=out)
    site = Site.objects.get(name="Headless pit")
    assert site.tick == 360  # 10 s steps
    assert TruckReading.objects.filter(equipment__site=site).count() == 4 * 360
    assert SimEvent.objects.filter(site=site, kind="loaded").exists()
    assert "simulated 1 h" in out.getvalue()


def test_a_dry_run_writes_nothing(settings):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 4, 1, 1
    call_command("simulate", site="Dry pit", hours=0.5, dry_run=True, stdout=io.StringIO())
    assert not TruckReading.objects.exists() and Site.objects.get(name="Dry pit").tick == 0


def test_the_same_seed_gives_the_same_history(settings):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 3, 1, 1
    histories = []
    for name in ("Twin A", "Twin B"):
        call_command("simulate", site=name, hours=0.5, seed=5, stdout=io.StringIO())
        rows = TruckReading.objects.filter(equipment__site__name=name).order_by("ts", "equipment__name")
        histories.append(
            [(r.equipment.name, r.status, round(r.payload_t, 6), round(r.fuel_l, 6)) for r in rows]
        )
    assert histories[0] == histories[1]


@pytest.mark.parametrize("hours", ["0", "-1", "nan", "abc"])
def test_impossible_hours_are_refused(hours):
    with pytest.raises(CommandError, match="hours"):
        call_command("simulate", "--hours", hours, stdout=io.StringIO())


def test_export_writes_the_reading_csv_format(settings, tmp_path):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 2, 1, 1
    target = tmp_path / "out.csv"
    call_command("simulate", site="Export pit", hours=0.1, export=target, stdout=io.StringIO())
    lines = target.read_text().splitlines()
    assert lines[0].startswith("site,equipment,ts,status,lat,lon")
    assert len(lines) == 1 + 2 * 36


def live_site(name: str, ticks: int = 3) -> Site:
    """A seeded site the live twin has ticked `ticks` times (wall-clock ticks, history up to now)."""
    site = seeding.seed_site(name=name, trucks=3, crushers=1, stockpiles=1).site
    for _ in range(ticks):
        assert ticking.tick_site(site.pk, dt_s=10.0).applied
    return Site.objects.get(pk=site.pk)


def truck_times(site: Site) -> list[dt.datetime]:
    return list(TruckReading.objects.filter(equipment__site=site).order_by("ts").values_list("ts", flat=True))


def test_on_a_live_site_it_backfills_before_the_live_history_and_leaves_the_live_clock():
    site = live_site("Live pit")
    live_times, live_state = truck_times(site), site.sim_state
    wall = timezone.now()

    call_command("simulate", site="Live pit", hours=1, seed=2, stdout=io.StringIO())

    after = Site.objects.get(pk=site.pk)
    assert (after.tick, after.sim_clock, after.sim_state) == (site.tick, site.sim_clock, live_state)
    assert after.sim_clock <= wall + dt.timedelta(seconds=60)
    backfill = [ts for ts in truck_times(site) if ts not in set(live_times)]
    assert len(backfill) == 3 * 360
    assert max(backfill) < min(live_times) and min(live_times) - max(backfill) <= dt.timedelta(seconds=10)
    assert min(backfill) >= min(live_times) - dt.timedelta(hours=1)


@pytest.mark.parametrize("ticks", [0, 3], ids=["fresh site", "live site"])
def test_the_service_records_move_to_before_the_simulated_history(ticks):
    """Each unit's last service stays before the first stored reading: the history is simulated from a state
    whose wear the records date, wherever on the time line that history is written."""
    site = live_site("Serviced pit", ticks=ticks)
    units = len(SimEvent.objects.filter(site=site, kind="serviced"))

    call_command("simulate", site="Serviced pit", hours=0.5, stdout=io.StringIO())

    records = SimEvent.objects.filter(site=site, kind="serviced")
    assert len(records) == units == 3 + 1 + 2  # trucks, crusher, loaders
    assert max(r.ts for r in records) <= truck_times(site)[0]


def test_a_tick_right_after_a_backfill_continues_the_live_history():
    site = live_site("Ticked pit")
    newest = truck_times(site)[-1]
    call_command("simulate", site="Ticked pit", hours=0.5, stdout=io.StringIO())

    outcome = ticking.tick_site(site.pk, dt_s=10.0)

    assert outcome.applied and outcome.readings == 3 + 1 + 1  # trucks, crusher, stockpile
    assert truck_times(site)[-1] == newest + dt.timedelta(seconds=10)


def test_backfilled_faults_never_share_a_label_with_the_live_twin(settings):
    site = live_site("Faulty pit", ticks=1)
    state = site.sim_state
    state["config"]["anomaly_rate_per_unit_h"] = 2.0  # several anomalies an hour, the first at once
    state["next_anomaly_s"] = state["clock_s"] + 60.0
    Site.objects.filter(pk=site.pk).update(sim_state=state)

    call_command("simulate", site="Faulty pit", hours=1, seed=4, stdout=io.StringIO())

    backfilled = FaultLabel.objects.filter(site=site)
    assert backfilled.exists()
    assert all(label.fault_id >= BACKFILL_FAULT_IDS_FROM for label in backfilled)
    assert Site.objects.get(pk=site.pk).sim_state["next_fault_id"] == state["next_fault_id"]


def test_a_site_without_history_ends_its_clock_at_the_history_end_not_after_now(settings):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 3, 1, 1
    call_command("simulate", site="New pit", hours=2, seed=6, stdout=io.StringIO())
    wall = timezone.now()

    site = Site.objects.get(name="New pit")
    times = truck_times(site)
    assert site.sim_clock <= wall and wall - site.sim_clock < dt.timedelta(minutes=1)
    assert times[-1] == site.sim_clock and times[0] == site.sim_clock - dt.timedelta(hours=2, seconds=-10)
    outcome = ticking.tick_site(site.pk, now=wall + dt.timedelta(seconds=30))
    assert outcome.applied and truck_times(site)[-1] > times[-1]


def test_a_live_clock_ahead_of_wall_time_is_reported_and_left_alone():
    site = live_site("Ahead pit", ticks=0)
    ahead = timezone.now() + dt.timedelta(days=7)
    state = site.sim_state
    state["clock_s"] = ahead.timestamp()
    Site.objects.filter(pk=site.pk).update(sim_state=state, sim_clock=ahead)
    ticking.tick_site(site.pk, dt_s=10.0)
    out = io.StringIO()

    call_command("simulate", site="Ahead pit", hours=0.1, stdout=out)

    assert "live clock is 168.0 h ahead of wall time" in out.getvalue()
    assert Site.objects.get(pk=site.pk).sim_clock == ahead + dt.timedelta(seconds=10)
    assert min(truck_times(site)) >= timezone.now() - dt.timedelta(hours=0.2)
