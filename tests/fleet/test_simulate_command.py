"""manage.py simulate: headless history through the same persistence path as live ticks."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fleet.models import SimEvent, Site, TruckReading

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
