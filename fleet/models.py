"""The mine site and its mobile fleet: pit zones, loaders, haul roads, waste dumps and haul trucks.

Sensor columns (on the equipment rows, their readings and their one-minute rollups) are generated from
fleet/sim/schema.py, so the engine, the database, the CSV format and the admin agree on names and units.
"""

from __future__ import annotations

import datetime as dt

import orjson
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.utils.text import slugify

from fleet.choices import DispatchStrategy, LoaderStatus, TruckStatus, ZoneMaterial, ZoneStatus
from fleet.sim.schema import SENSORS
from fleet.sim.state import Event

#: Unit suffixes of sensor names, dropped from column labels (the unit is shown in brackets instead).
_UNIT_SUFFIXES = ("_mm_s", "_kmh", "_kpa", "_tph", "_pct", "_deg", "_kw", "_t", "_l", "_c")


def sensor_label(name: str, unit: str) -> str:
    """'payload_t' -> 'payload (t)'."""
    base = next((name.removesuffix(s) for s in _UNIT_SUFFIXES if name.endswith(s)), name)
    return f"{base.replace('_', ' ')} ({unit})"


def sensor_columns(kind: str, *, suffixes: tuple[str, ...] = ("",), **options) -> type[models.Model]:
    """An abstract model with one FloatField per sensor of `kind` (and per suffix, for rollups)."""
    attrs: dict[str, object] = {"__module__": __name__, "Meta": type("Meta", (), {"abstract": True})}
    for name, sensor in SENSORS[kind].items():
        for suffix in suffixes:
            label = sensor_label(name, sensor.unit)
            attrs[name + suffix] = models.FloatField(
                verbose_name=f"{label} {suffix.strip('_')}".strip(),
                help_text=f"{sensor.description}, {sensor.minimum:g} to {sensor.maximum:g} {sensor.unit}",
                **options,
            )
    return type(f"{kind.title()}SensorColumns", (models.Model,), attrs)


class EngineStateField(models.JSONField):
    """JSON stored as PostgreSQL `json` (text kept as written), not `jsonb`, compressed with lz4.

    The engine state is rewritten whole every tick and read whole: jsonb would parse it into its binary form
    on every write (about half the cost of the write at 1,000 trucks) for key lookups nobody makes on it.
    Values are written with orjson; psycopg reads `json` columns into Python objects itself.
    """

    def db_type(self, connection) -> str:
        return "json"

    def from_db_value(self, value, expression, connection):
        return super().from_db_value(value, expression, connection) if isinstance(value, str) else value

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if hasattr(value, "as_sql"):
            return value
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


class Site(models.Model):
    """One mine. Every piece of equipment belongs to a site, so one installation can run many mines.

    The simulation engine's state for the site lives in `sim_state` (SiteState.to_dict() with database ids);
    `tick` counts simulation steps and only ever grows.
    """

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=100, unique=True, help_text="identifies the site in CSV files and URLs"
    )
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA zone of the mine, for shifts")
    centre_lat = models.FloatField("centre latitude (deg)", default=0.0)
    centre_lon = models.FloatField("centre longitude (deg)", default=0.0)
    sim_state = EngineStateField("simulation state", default=dict, blank=True)
    tick = models.BigIntegerField(default=0, help_text="simulation steps taken; monotonic")
    last_tick_at = models.DateTimeField(null=True, blank=True, help_text="wall-clock time of the last tick")
    sim_clock = models.DateTimeField("simulated time", null=True, blank=True)
    paused = models.BooleanField(default=False, help_text="a paused site is not simulated")
    dispatch_strategy = models.CharField(
        max_length=20, choices=DispatchStrategy, default=DispatchStrategy.SHORTEST_QUEUE
    )
    dispatch_state = models.JSONField(
        default=dict,
        blank=True,
        help_text="the dispatcher's saved plan (the optimiser's LP flows), between ticks",
    )
    is_default = models.BooleanField(default=False, help_text="the site shown when none is chosen")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="fleet_site_one_default"
            )
        ]
        permissions = [("control_simulation", "Can pause and resume a site's simulation")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        if not self.slug:
            self.slug = slugify(self.name)[:100]
        super().save(*args, **kwargs)


class SiteObject(models.Model):
    """Anything that belongs to one site and is named uniquely within it."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=64)
    live = models.BooleanField(
        default=False, help_text="fed by real telemetry: the simulator leaves it alone"
    )

    class Meta:
        abstract = True
        ordering = ["site", "name"]

    def __str__(self) -> str:
        return self.name


def unique_name_per_site(label: str) -> list[models.BaseConstraint]:
    return [models.UniqueConstraint(fields=["site", "name"], name=f"{label}_unique_name_per_site")]


class MiningZone(SiteObject):
    """A bench block in a pit, mined for ore or waste, with the tonnes left and the shift plan."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="zones")
    pit = models.CharField(max_length=64, default="Main pit")
    bench_rl_m = models.FloatField("bench floor RL (m)", default=0.0, help_text="reduced level of the bench")
    material = models.CharField(max_length=10, choices=ZoneMaterial, default=ZoneMaterial.ORE)
    grade_pct = models.FloatField("grade (%)", default=0.0, help_text="in-situ head grade; 0 for waste")
    initial_t = models.FloatField("initial tonnes (t)", default=0.0)
    remaining_t = models.FloatField("remaining (t)", default=0.0)
    shift_target_t = models.FloatField("shift target (t)", default=0.0)
    status = models.CharField(max_length=16, choices=ZoneStatus, default=ZoneStatus.ACTIVE, db_index=True)
    lat = models.FloatField("face latitude (deg)", default=0.0)
    lon = models.FloatField("face longitude (deg)", default=0.0)
    polygon = models.JSONField(default=list, blank=True, help_text="outline [[lat, lon], ...]")

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("fleet_miningzone")


class Loader(SiteObject):
    """A shovel or excavator that loads haul trucks at a pit zone."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="loaders")
    model = models.CharField(
        max_length=64, help_text="manufacturer model, e.g. a 70 t-class hydraulic shovel"
    )
    dig_rate_tph = models.FloatField("dig rate (t/h)")
    bucket_t = models.FloatField("bucket payload (t)")
    engine_power_kw = models.FloatField("engine power (kW)", default=0.0)
    shift_target_t = models.FloatField("shift target (t)", default=0.0)
    engine_hours = models.FloatField("engine hours (h)", default=0.0)
    zone = models.ForeignKey(
        MiningZone, null=True, blank=True, on_delete=models.SET_NULL, related_name="loaders"
    )
    status = models.CharField(max_length=16, choices=LoaderStatus, default=LoaderStatus.IDLE, db_index=True)
    lat = models.FloatField("latitude (deg)", default=0.0)
    lon = models.FloatField("longitude (deg)", default=0.0)
    health = models.FloatField("health (%)", default=100.0)

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("fleet_loader")


class HaulRoad(SiteObject):
    """A haul road segment between two named points, as a polyline of (lat, lon) with its grade and limits."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="haul_roads")
    from_point = models.CharField(max_length=64, help_text="name of the start point (zone, crusher, dump)")
    to_point = models.CharField(max_length=64, help_text="name of the end point")
    start_node = models.CharField(max_length=40, blank=True, help_text='engine node, e.g. "zone:3"')
    end_node = models.CharField(max_length=40, blank=True, help_text='engine node, e.g. "crusher:1"')
    polyline = models.JSONField(default=list, help_text="[[lat, lon], ...] from start to end")
    length_m = models.FloatField("length (m)")
    grade_pct = models.FloatField(
        "grade (%)", default=0.0, help_text="positive when climbing from start to end"
    )
    speed_limit_loaded_kmh = models.FloatField("loaded speed limit (km/h)", default=30.0)
    speed_limit_empty_kmh = models.FloatField("empty speed limit (km/h)", default=45.0)

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("fleet_haulroad")


class WasteDump(SiteObject):
    """Where trucks tip waste rock."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="waste_dumps")
    lat = models.FloatField("latitude (deg)", default=0.0)
    lon = models.FloatField("longitude (deg)", default=0.0)
    capacity_t = models.FloatField("capacity (t)", default=0.0)
    dumped_t = models.FloatField("tipped so far (t)", default=0.0)
    tip_points = models.PositiveSmallIntegerField(default=4, help_text="trucks tipping side by side")

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("fleet_wastedump")


class Truck(sensor_columns("truck", default=0.0), SiteObject):
    """A rigid-frame haul truck, identified by its fleet number (`name`), with its latest sensor values."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="trucks")
    model = models.CharField(max_length=64, help_text="truck class, e.g. 227 t (793-class)")
    rated_payload_t = models.FloatField("rated payload (t)")
    fuel_tank_l = models.FloatField("fuel tank (L)")
    engine_power_kw = models.FloatField("engine power (kW)")
    empty_mass_t = models.FloatField("empty mass (t)", default=0.0)
    max_speed_empty_kmh = models.FloatField("top speed empty (km/h)", default=60.0)
    max_speed_loaded_kmh = models.FloatField("top speed loaded (km/h)", default=40.0)
    cold_tyre_pressure_kpa = models.FloatField("cold tyre pressure (kPa)", default=700.0)
    status = models.CharField(max_length=20, choices=TruckStatus, default=TruckStatus.WAITING, db_index=True)
    assigned_loader = models.ForeignKey(
        Loader, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_trucks"
    )
    destination_crusher = models.ForeignKey(
        "plants.Crusher", null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_trucks"
    )
    destination_dump = models.ForeignKey(
        WasteDump, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_trucks"
    )
    last_reading_at = models.DateTimeField(null=True, blank=True)

    class Meta(SiteObject.Meta):
        constraints = unique_name_per_site("fleet_truck")
        # One permission for trucks, loaders and crushers alike (fleet.change_equipment_status).
        permissions = [
            ("change_equipment_status", "Can send equipment to maintenance and back to service"),
            ("ingest_telemetry", "Can post equipment telemetry (gateways)"),
        ]

    @property
    def destination(self):
        return self.destination_crusher or self.destination_dump


# --- History: append-only, partitioned by day (DDL in migrations; see docs/history.md)


class Reading(models.Model):
    """One sensor snapshot of one piece of equipment at one instant (a wide row).

    The table is range-partitioned by `ts`; its real primary key is (id, ts) and (equipment_id, ts) is
    unique, so re-sending a reading never duplicates it. Django sees `id` as the primary key.
    """

    id = models.BigAutoField(primary_key=True)
    ts = models.DateTimeField("time")
    status = models.CharField(max_length=20)

    class Meta:
        abstract = True
        ordering = ["-ts"]
        get_latest_by = "ts"

    def __str__(self) -> str:
        return f"{self.equipment} at {self.ts:%Y-%m-%d %H:%M:%S}"


class Rollup(models.Model):
    """Average, minimum and maximum of each sensor over one minute, kept longer than raw readings."""

    id = models.BigAutoField(primary_key=True)
    bucket = models.DateTimeField("minute")
    samples = models.IntegerField(help_text="readings in the minute")

    class Meta:
        abstract = True
        ordering = ["-bucket"]
        get_latest_by = "bucket"

    def __str__(self) -> str:
        return f"{self.equipment} minute {self.bucket:%Y-%m-%d %H:%M}"


ROLLUP_SUFFIXES = ("_avg", "_min", "_max")


def reading_unique(table: str) -> models.UniqueConstraint:
    """(equipment, ts) is unique: a re-sent reading is a duplicate. The index also serves per-truck reads."""
    return models.UniqueConstraint(fields=["equipment", "ts"], name=f"{table}_equipment_ts_uniq")


def time_brin(name: str) -> BrinIndex:
    """Time-ordered appends make a BRIN index on ts tiny and good enough for range scans."""
    return BrinIndex(fields=["ts"], name=name)


def rollup_unique(table: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(fields=["equipment", "bucket"], name=f"{table}_equipment_bucket_uniq")


class TruckReading(sensor_columns("truck"), Reading):
    """A truck's position, payload, fuel and engine sensors at one instant."""

    # No database FK: a per-row foreign-key check would halve COPY speed, and history outlives equipment.
    equipment = models.ForeignKey(
        Truck, on_delete=models.DO_NOTHING, db_constraint=False, related_name="readings", verbose_name="truck"
    )
    status = models.CharField(max_length=20, choices=TruckStatus)

    class Meta(Reading.Meta):
        constraints = [reading_unique("fleet_truckreading")]
        indexes = [time_brin("fleet_truckreading_ts_brin")]


class TruckRollup(sensor_columns("truck", suffixes=ROLLUP_SUFFIXES), Rollup):
    """A truck's sensors summarised per minute."""

    equipment = models.ForeignKey(
        Truck, on_delete=models.DO_NOTHING, db_constraint=False, related_name="rollups", verbose_name="truck"
    )

    class Meta(Rollup.Meta):
        constraints = [rollup_unique("fleet_truckrollup")]


# --- What happened: simulation events and the ground truth of injected faults


class SimEvent(models.Model):
    """Something that happened to a unit at an instant: loaded, dumped, queued, breakdown, repaired, ...

    Written with the tick that produced it; KPIs (tonnes moved, cycles) and ML labels are computed from
    these rows in SQL.
    """

    id = models.BigAutoField(primary_key=True)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="events")
    ts = models.DateTimeField("time")
    kind = models.CharField(max_length=32)
    unit_kind = models.CharField(max_length=16)
    unit_id = models.BigIntegerField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-ts", "-id"]
        indexes = [
            models.Index(fields=["site", "kind", "ts"], name="fleet_simevent_site_kind_ts"),
            models.Index(fields=["unit_kind", "unit_id", "ts"], name="fleet_simevent_unit_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.unit_kind} {self.unit_id} at {self.ts:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def from_engine(cls, site: Site, event: Event) -> SimEvent:
        """The row of an engine event (fleet.sim.Event), unsaved: callers write many in one bulk_create."""
        return cls(
            site=site,
            ts=dt.datetime.fromtimestamp(event.clock_s, dt.UTC),
            kind=event.kind,
            unit_kind=event.unit_kind,
            unit_id=event.unit_id,
            data=event.data,
        )


class FaultLabel(models.Model):
    """Ground truth of one fault the simulator injected (a sensor anomaly or a developing failure).

    Anomaly detection and failure prediction are scored against these rows; real telemetry has none.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="fault_labels")
    fault_id = models.BigIntegerField(help_text="the engine's id of the fault, unique within the site")
    category = models.CharField(max_length=32, help_text="sensor_anomaly, developing_fault or sudden_failure")
    label = models.CharField(max_length=32, help_text="spike, drift, stuck, noise, bearing_wear, ...")
    unit_kind = models.CharField(max_length=16)
    unit_id = models.BigIntegerField()
    sensors = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    planned_end_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="empty while the fault is active")
    outcome = models.CharField(
        max_length=32, blank=True, help_text="how it ended: ended, failure, maintenance"
    )
    params = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [models.UniqueConstraint(fields=["site", "fault_id"], name="fleet_faultlabel_unique")]
        indexes = [models.Index(fields=["unit_kind", "unit_id", "started_at"], name="fleet_faultlabel_unit")]

    def __str__(self) -> str:
        return f"{self.label} on {self.unit_kind} {self.unit_id}"
