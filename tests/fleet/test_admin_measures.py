"""The control room reads numbers rounded to their meaning and statuses in the dashboard legend's colours."""

import json
import re

import pytest
from django.urls import reverse

from fleet import choices
from fleet.admin import TruckAdmin, format_measure, measure_column, measure_unit, status_badge
from fleet.models import Truck
from fleet.sim import schema
from tests.factories import TruckFactory, operator


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("payload_t", 226.88791907471023, "226.9"),
        ("remaining_t", 1234567.891, "1,234,567.9"),
        ("utilisation_pct", 37.34999, "37.3"),
        ("speed_kmh", 54.66, "54.7"),
        ("engine_temp_c", 87.6, "88"),
        ("fuel_l", 3021.4, "3,021"),
        ("lat", -22.123456789, "-22.12346"),
        ("lon", 118.9999961, "119.00000"),
        ("health", 99.96, "100.0"),
        ("payload_t_avg", 101.25, "101.2"),
        ("vibration_mm_s", 2.345, "2.3"),
    ],
)
def test_each_measure_is_rounded_to_what_its_unit_means(name, value, shown):
    _, _, decimals = measure_unit(name)
    assert format_measure(value, decimals) == shown


def test_a_column_is_titled_with_its_unit_and_sorts_by_its_field():
    column = measure_column("speed_kmh")
    assert column.short_description == "speed (km/h)" and column.admin_order_field == "speed_kmh"
    assert measure_column("payload_t_avg").short_description == "payload avg (t)"
    assert format_measure(None, 1) == "-"


def test_a_field_without_a_known_unit_is_refused_by_name():
    assert measure_unit("name") is None and measure_unit("tip_points") is None
    with pytest.raises(ValueError, match="'tip_points' has no unit"):
        measure_column("tip_points")


def test_every_status_of_every_kind_has_its_own_colour_within_the_kind():
    for kind in (schema.TruckStatus, schema.LoaderStatus, schema.CrusherStatus, schema.StockpileStatus):
        colours = [choices.STATUS_COLOURS[status.value] for status in kind]
        assert len(set(colours)) == len(colours), kind.__name__


def test_a_badge_takes_the_status_colour_and_dark_text_on_light_colours():
    assert "background:#d32f2f;color:#fff" in status_badge("broken_down")
    assert "background:#fbc02d;color:#212121" in status_badge("queued_at_loader")
    assert f"background:{choices.UNKNOWN_STATUS_COLOUR}" in status_badge("teleporting")


@pytest.mark.django_db
def test_the_truck_list_shows_rounded_numbers_and_the_badge_in_the_dashboards_colour(client):
    TruckFactory(name="HT-07", status="queued_at_loader", payload_t=226.88791907471023, speed_kmh=31.04999)
    client.force_login(operator())

    page = client.get(reverse("admin:fleet_truck_changelist")).content.decode()
    dashboard = client.get("/").content.decode()

    assert "226.9" in page and "226.88" not in page and "31.0" in page and "31.04" not in page
    assert "payload (t)" in page.lower() and "speed (km/h)" in page.lower()
    config = json.loads(re.search(r'id="dashboard-config"[^>]*>(.*?)</script>', dashboard, re.S).group(1))
    assert config["statusColours"] == choices.STATUS_COLOURS
    badge = re.search(r'class="status-badge" style="background:(#[0-9a-f]{6})', page).group(1)
    assert badge == config["statusColours"]["queued_at_loader"]


def test_the_truck_list_keeps_to_what_a_dispatcher_scans():
    names = [getattr(column, "__name__", column) for column in TruckAdmin.list_display]
    assert len(names) <= 9 and "site" not in names and "model" not in names
    assert Truck._meta.get_field("payload_t")  # the rounded columns still name real fields
