"""The live refresh's reading cache: a refresh reads only the minutes that are new, and what it returns is
exactly what a full read of the window returns (analytics.scoring.frames.RecentMinutes)."""

import datetime as dt

import pandas as pd
import pytest
from django.core.management import call_command
from django.db import connection

from analytics.scoring import frames, predictions
from fleet import seeding
from fleet.models import Site

pytestmark = pytest.mark.django_db

WINDOW = dt.timedelta(hours=2)
FULL_READ = frames.reading_frame  # bound before `reads` records the cache's reads


@pytest.fixture
def site() -> Site:
    seeding.seed_site(name="Cache pit", trucks=3, crushers=1, stockpiles=1, loaders=2)
    simulate(hours=2.5)
    return Site.objects.get(name="Cache pit")


def simulate(hours: float) -> None:
    call_command("simulate", site="Cache pit", hours=hours, stdout=open("/dev/null", "w"))  # noqa: SIM115


def window_end() -> dt.datetime:
    return Site.objects.get(name="Cache pit").sim_clock + dt.timedelta(microseconds=1)


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """Every read RecentMinutes makes of PostgreSQL: (kind, start, end)."""
    seen = []

    def recorded(site_id, kind, *, start, end):
        seen.append((kind, start, end))
        return FULL_READ(site_id, kind, start=start, end=end)

    monkeypatch.setattr(frames, "reading_frame", recorded)
    return seen


def assert_same_as_full_read(site: Site, kind: str, got: pd.DataFrame, end: dt.datetime) -> None:
    expected = FULL_READ(site.pk, kind, start=frames.floor_minute(end - WINDOW), end=end)
    pd.testing.assert_frame_equal(got, expected)


def test_a_later_refresh_reads_only_the_new_minutes_and_returns_what_a_full_read_would(site, reads):
    recent = frames.RecentMinutes()
    first_end = window_end()
    first = recent.frame(site.pk, "truck", start=first_end - WINDOW, end=first_end)
    assert reads == [("truck", frames.floor_minute(first_end - WINDOW), first_end)]
    assert_same_as_full_read(site, "truck", first, first_end)

    simulate(hours=0.5)
    later_end = window_end()
    later = recent.frame(site.pk, "truck", start=later_end - WINDOW, end=later_end)

    _, read_from, read_to = reads[-1]
    assert read_to == later_end and read_from == frames.floor_minute(first_end - recent.reread)
    assert later_end - read_from < dt.timedelta(minutes=34)  # 30 new minutes and the last 2 read again
    assert_same_as_full_read(site, "truck", later, later_end)
    assert later["ts"].min() - frames.SAMPLE >= pd.Timestamp(frames.floor_minute(later_end - WINDOW))


def test_a_late_reading_within_the_reread_margin_is_seen_and_an_older_one_at_the_next_full_read(site, reads):
    recent = frames.RecentMinutes()
    end = window_end()
    recent.frame(site.pk, "truck", start=end - WINDOW, end=end)
    recently = frames.floor_minute(end - dt.timedelta(minutes=1))
    long_ago = frames.floor_minute(end - dt.timedelta(minutes=60))
    with connection.cursor() as cursor:
        for moment in (recently, long_ago):  # a corrected value for the last reading of a minute
            cursor.execute(
                "UPDATE fleet_truckreading SET engine_temp_c = 150 WHERE id = "
                "(SELECT id FROM fleet_truckreading WHERE ts < %s ORDER BY ts DESC LIMIT 1)",
                [moment],
            )

    again = recent.frame(site.pk, "truck", start=end - WINDOW, end=end)
    assert (again["engine_temp_c"] == 150).sum() == 1  # the recent correction only
    recent.full_read_every_s = 0.0
    fully = recent.frame(site.pk, "truck", start=end - WINDOW, end=end)
    assert (fully["engine_temp_c"] == 150).sum() == 2
    assert_same_as_full_read(site, "truck", fully, end)


def test_a_window_that_moves_back_is_read_in_full(site, reads):
    recent = frames.RecentMinutes()
    end = window_end()
    recent.frame(site.pk, "crusher", start=end - WINDOW, end=end)
    earlier = end - dt.timedelta(minutes=30)
    recent.frame(site.pk, "crusher", start=earlier - WINDOW, end=earlier)
    assert reads[-1] == ("crusher", frames.floor_minute(earlier - WINDOW), earlier)


def test_the_periodic_refresh_reads_through_its_cache(site, reads):
    recent = frames.RecentMinutes()
    predictions.refresh_site(site.pk, force=True, recent=recent)
    simulate(hours=0.25)
    predictions.refresh_site(site.pk, force=True, recent=recent)
    last_truck_read = [read for read in reads if read[0] == "truck"][-1]
    assert last_truck_read[2] - last_truck_read[1] < dt.timedelta(hours=1)  # not the 24 h window
