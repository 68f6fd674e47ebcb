"""Test data for the domain apps: one factory per model, realistic defaults (a 227 t-class truck etc.)."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth.models import Group, User

from analytics.models import Alert
from fleet.choices import ENGINEERS_GROUP, OPERATORS_GROUP
from fleet.models import HaulRoad, Loader, MiningZone, Site, Truck, WasteDump
from fleet.sim.schema import SENSORS
from plants.models import Crusher
from stockpiles.models import Material, Stockpile


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Test pit {n}")
    slug = factory.Sequence(lambda n: f"test-pit-{n}")
    centre_lat, centre_lon = -22.30, 118.60


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MiningZone

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Z-{n:02d}")
    grade_pct = 61.2
    initial_t = remaining_t = 1_000_000.0


class LoaderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Loader

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"SH-{n:02d}")
    model = "CAT 6060 FS"
    dig_rate_tph = 5500.0
    bucket_t = 60.0
    zone = factory.SubFactory(ZoneFactory, site=factory.SelfAttribute("..site"))


class TruckFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Truck

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"HT-{n:02d}")
    model = "CAT 793F"
    rated_payload_t = 227.0  # 793-class haul truck
    fuel_tank_l = 4921.0
    engine_power_kw = 1976.0
    fuel_l = 3000.0


class StockpileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Stockpile

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"SP-{n:02d}")
    capacity_t = 60_000.0
    level_t = 30_000.0


class MaterialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Material

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Ore {n}")
    grade_pct = 61.0


class CrusherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Crusher

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"CR-{n:02d}")
    model = "Gyratory 54-75"
    rated_capacity_tph = 2000.0


class WasteDumpFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WasteDump

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"WD-{n:02d}")
    capacity_t = 50_000_000.0


class HaulRoadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HaulRoad

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Road {n}")
    from_point, to_point = "Z-01", "Pit exit"
    polyline = [[-22.30, 118.60], [-22.29, 118.61]]
    length_m = 1500.0
    grade_pct = 8.0


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Alert

    site = factory.SelfAttribute("equipment.site")
    equipment = factory.SubFactory(TruckFactory)
    equipment_name = factory.SelfAttribute("equipment.name")
    kind = "engine_overheat"
    message = "Engine coolant at 112 degC"
    raised_at = last_raised_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


def operator() -> User:
    user = UserFactory()
    user.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    return user


def engineer() -> User:
    user = UserFactory()
    user.groups.add(Group.objects.get(name=ENGINEERS_GROUP))
    return user


def reading(kind: str, equipment_id: int, ts: dt.datetime, status: str, **values: float) -> dict:
    """One reading row for ingest_readings: every sensor at its range midpoint unless given."""
    row = {"equipment_id": equipment_id, "ts": ts, "status": status}
    for name, sensor in SENSORS[kind].items():
        default = _WITHIN_EQUIPMENT.get(name, (sensor.minimum + sensor.maximum) / 2)
        row[name] = values.get(name, default)
    return row


#: Defaults that also fit the factory equipment (a 4,921 L tank, a 60,000 t pile).
_WITHIN_EQUIPMENT = {"fuel_l": 2000.0, "level_t": 30_000.0}
