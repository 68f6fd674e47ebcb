import io

import pytest
from django.core.management import call_command

from fleet import seeding
from fleet.models import HaulRoad, Loader, MiningZone, SimEvent, Site, Truck, WasteDump
from fleet.sim.state import SiteState
from plants.models import Crusher
from stockpiles.models import Stockpile
from tests.factories import SiteFactory, TruckFactory, ZoneFactory

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    out = io.StringIO()
    call_command("seed_site", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_default_site_with_every_kind_of_equipment(settings):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 15, 3, 4

    seed()

    site = Site.objects.get()
    assert site.is_default and site.slug == "pilbara-demo-pit"
    assert Truck.objects.filter(site=site).count() == 15
    assert Crusher.objects.filter(site=site).count() == 3
    assert Stockpile.objects.filter(site=site).count() == 4
    assert Loader.objects.filter(site=site).exists() and MiningZone.objects.filter(site=site).exists()
    assert WasteDump.objects.filter(site=site).exists() and HaulRoad.objects.filter(site=site).exists()


def test_trucks_are_of_real_classes():
    seed("--trucks", "6")

    classes = set(Truck.objects.values_list("rated_payload_t", "engine_power_kw"))
    assert (227.0, 1976.0) in classes and any(payload == 91.0 for payload, _ in classes)


def test_haul_roads_have_coordinates_length_and_grade():
    seed("--trucks", "4")

    road = HaulRoad.objects.filter(name__endswith="ramp").first()
    assert len(road.polyline) > 2 and road.length_m > 100 and 0 < abs(road.grade_pct) <= 10
    lat, lon = road.polyline[0]
    assert -23 < lat < -22 and 118 < lon < 119


def test_crushers_feed_stockpiles():
    seed("--crushers", "2", "--stockpiles", "3")

    assert all(crusher.stockpile is not None for crusher in Crusher.objects.all())


def test_running_it_twice_changes_nothing():
    seed("--trucks", "5")

    assert "already exists" in seed("--trucks", "9")
    assert Truck.objects.count() == 5


def test_the_engine_state_is_stored_with_database_ids():
    # Rows made first so database ids differ from the engine's 1..N.
    TruckFactory.create_batch(3)
    ZoneFactory.create_batch(2)

    seed("--name", "Second pit", "--trucks", "4")

    site = Site.objects.get(name="Second pit")
    state = SiteState.from_dict(site.sim_state)
    assert {t.id for t in state.trucks} == set(Truck.objects.filter(site=site).values_list("pk", flat=True))
    zone_ids = set(MiningZone.objects.filter(site=site).values_list("pk", flat=True))
    assert {loader.zone_id for loader in state.loaders} <= zone_ids
    assert all(int(t.node.split(":")[1]) in zone_ids for t in state.trucks)
    roads = {r.pk: r for r in HaulRoad.objects.filter(site=site)}
    assert {(r.id, r.start_node, r.end_node) for r in state.roads} == {
        (pk, r.start_node, r.end_node) for pk, r in roads.items()
    }


def test_each_unit_gets_its_last_service_from_the_maintenance_record():
    seed("--trucks", "4", "--crushers", "1", "--stockpiles", "1")

    site = Site.objects.get()
    records = SimEvent.objects.filter(site=site, kind="serviced")
    expected = {("truck", pk) for pk in Truck.objects.values_list("pk", flat=True)}
    expected |= {("loader", pk) for pk in Loader.objects.values_list("pk", flat=True)}
    expected |= {("crusher", pk) for pk in Crusher.objects.values_list("pk", flat=True)}
    assert {(r.unit_kind, r.unit_id) for r in records} == expected and len(records) == len(expected)
    assert all(r.ts <= site.sim_clock for r in records)


def test_an_impossible_layout_is_refused_in_one_line():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="cannot seed site"):
        seed("--crushers", "3", "--stockpiles", "1")


def test_a_second_site_gets_its_own_slug_and_is_not_default():
    SiteFactory(name="Other", is_default=True)

    seed("--name", "Pilbara demo pit", "--trucks", "3")

    assert not Site.objects.get(name="Pilbara demo pit").is_default


def test_a_seeded_site_keeps_perth_time_like_the_pilbara_it_lies_in(settings):
    settings.MAX_TRUCKS, settings.MAX_CRUSHERS, settings.MAX_STOCKPILES = 2, 1, 1

    seed()

    assert Site.objects.get().timezone == "Australia/Perth"


@pytest.mark.parametrize(
    ("name", "zone", "after"),
    [
        ("Pilbara demo pit", "UTC", "Australia/Perth"),  # the demo on the old default moves
        ("Pilbara demo pit", "Africa/Johannesburg", "Africa/Johannesburg"),  # an operator's choice stays
        ("Operator's pit", "UTC", "UTC"),  # another site stays
    ],
)
def test_the_migration_moves_only_a_demo_site_still_on_utc_to_perth(name, zone, after):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("fleet.migrations.0008_demo_site_perth_time")
    site = SiteFactory(name=name, timezone=zone)

    migration.demo_site_to_perth(apps, None)

    site.refresh_from_db()
    assert site.timezone == after


def test_the_migration_dates_an_older_sites_units_as_seeding_would_and_skips_repaired_ones():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("fleet.migrations.0011_service_records_for_existing_sites")
    site = seeding.seed_site(name="Older pit", trucks=3, crushers=1, stockpiles=1).site
    seeded = {(r.unit_kind, r.unit_id): r.ts for r in SimEvent.objects.filter(site=site, kind="serviced")}
    SimEvent.objects.filter(site=site, kind="serviced").delete()  # as a site seeded before records existed
    repaired = Truck.objects.filter(site=site).order_by("pk").first()
    SimEvent.objects.create(site=site, ts=site.sim_clock,
                            kind="repaired", unit_kind="truck", unit_id=repaired.pk)  # fmt: skip
    SiteFactory(name="Real pit", sim_state={})  # no engine state: nothing to date

    migration.record_services(apps, None)

    dated = {(r.unit_kind, r.unit_id): r.ts for r in SimEvent.objects.filter(kind="serviced")}
    assert dated == {key: ts for key, ts in seeded.items() if key != ("truck", repaired.pk)}
    migration.remove_records(apps, None)
    assert not SimEvent.objects.filter(kind="serviced").exists()
