"""Writes to fleet state. Admin actions, commands, API views and tasks all call these; none write directly."""

from __future__ import annotations

import datetime as dt
import inspect
import queue
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from fleet import csvformat, readings, telemetry
from fleet.choices import (
    CrusherStatus,
    CrusherType,
    DispatchStrategy,
    LoaderStatus,
    MaterialKind,
    TruckStatus,
)
from fleet.models import HaulRoad, Loader, MiningZone, Site, Truck, WasteDump
from fleet.sim import layout, set_operator_status
from fleet.sim.schema import SENSORS
from fleet.sim.state import SiteState, node_name
from smartmine.platform import audit
from smartmine.platform.models import AuditAction

#: sim_state list holding each equipment model's engine state, and the status it returns to service in.
_STATUS_TARGETS: dict[str, tuple[str, str]] = {
    "fleet.truck": ("trucks", TruckStatus.WAITING),
    "fleet.loader": ("loaders", LoaderStatus.IDLE),
    "plants.crusher": ("crushers", CrusherStatus.IDLE),
}
MAINTENANCE = "maintenance"  # the same value in TruckStatus, LoaderStatus and CrusherStatus


class EquipmentStatusError(ValueError):
    """Raised for equipment that has no maintenance status (stockpiles, dumps)."""


def _set_status(equipment: Iterable[models.Model], *, to_maintenance: bool, actor=None) -> int:
    items = list(equipment)
    for item in items:
        if item._meta.label_lower not in _STATUS_TARGETS:
            raise EquipmentStatusError(f"{item._meta.verbose_name} {item} cannot be sent to maintenance")
    changed = 0
    states: dict[int, SiteState | None] = {}
    # Lock sites in a fixed order first: the simulation tick locks the site too, so it never overwrites
    # a status change with its own in-flight copy of the state.
    site_ids = sorted({item.site_id for item in items})
    sites = {
        site.pk: site for site in Site.objects.select_for_update().filter(pk__in=site_ids).order_by("pk")
    }
    for item in sorted(items, key=lambda unit: (unit._meta.label_lower, unit.pk)):
        list_name, in_service = _STATUS_TARGETS[item._meta.label_lower]
        target = MAINTENANCE if to_maintenance else str(in_service)
        if to_maintenance == (item.status == MAINTENANCE):
            continue
        type(item).objects.filter(pk=item.pk).update(status=target)
        audit.record(
            actor=actor, action=AuditAction.STATUS_CHANGE, targets=[item], frm=item.status, to=target
        )
        item.status = target
        changed += 1
        states.setdefault(item.site_id, _engine_state(sites[item.site_id]))
        engine_state = states[item.site_id]
        if engine_state is not None and any(unit.id == item.pk for unit in getattr(engine_state, list_name)):
            set_operator_status(engine_state, _ENGINE_KINDS[list_name], item.pk, target)
    for site_id, engine_state in states.items():
        if engine_state is not None:
            sites[site_id].sim_state = engine_state.to_dict()
            sites[site_id].save(update_fields=["sim_state"])
    return changed


_ENGINE_KINDS = {"trucks": "truck", "loaders": "loader", "crushers": "crusher"}


def _engine_state(site: Site) -> SiteState | None:
    """The site's engine state, or None for a site that is not simulated (no stored state)."""
    return SiteState.from_dict(site.sim_state) if site.sim_state else None


@transaction.atomic
def send_to_maintenance(*, equipment: Iterable[models.Model], actor=None) -> int:
    """Take trucks, loaders or crushers out of service for planned maintenance; returns how many changed."""
    return _set_status(equipment, to_maintenance=True, actor=actor)


@transaction.atomic
def return_to_service(*, equipment: Iterable[models.Model], actor=None) -> int:
    """Put equipment back into service from maintenance (trucks wait for dispatch, the rest idle)."""
    return _set_status(equipment, to_maintenance=False, actor=actor)


@transaction.atomic
def set_site_paused(*, sites: Iterable[Site], paused: bool, actor=None) -> int:
    """Pause or resume the simulation of sites; returns how many changed."""
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    ids = [site.pk for site in sites]
    to_change = list(Site.objects.filter(pk__in=ids).exclude(paused=paused))
    audit.record(actor=actor, action=AuditAction.PAUSE_SITE, targets=to_change, paused=paused)
    changed = Site.objects.filter(pk__in=ids).exclude(paused=paused).update(paused=paused)
    PeriodicTask.objects.filter(task=TICK_TASK, args__in=[f"[{pk}]" for pk in ids]).update(enabled=not paused)
    PeriodicTasks.update_changed()  # a queryset update sends no signal: tell beat to reload its schedule
    return changed


@transaction.atomic
def set_dispatch_strategy(*, site: Site, strategy: str, actor=None) -> bool:
    """Choose how the site's dispatcher assigns trucks; the next tick uses it. Returns whether it changed."""
    if strategy not in DispatchStrategy.values:
        raise ValueError(f"unknown dispatch strategy {strategy!r}")
    changed = Site.objects.filter(pk=site.pk).exclude(dispatch_strategy=strategy)
    if changed.exists():
        audit.record(
            actor=actor, action=AuditAction.SITE_SETTINGS, targets=[site], dispatch_strategy=strategy
        )
    changed = changed.update(dispatch_strategy=strategy)
    site.dispatch_strategy = strategy
    return bool(changed)


# --- Telemetry from real equipment (POST /api/telemetry)


@dataclass
class TelemetryReport:
    """What happened to a batch: items not listed in `rejected` were accepted (stored or already stored)."""

    received: int
    accepted: int = 0
    inserted: int = 0
    duplicates: int = 0
    marked_live: int = 0
    rejected: list[dict] = field(default_factory=list)


#: Equipment column holding the limit a sensor is checked against (telemetry.EQUIPMENT_LIMITS).
_LIMIT_COLUMNS = {"truck": "fuel_tank_l", "stockpile": "capacity_t"}


@transaction.atomic
def ingest_telemetry(*, items: list, now: dt.datetime | None = None) -> TelemetryReport:
    """Validate a gateway's batch item by item (vectorised), store the good readings through the one ingestion
    path and mark the equipment that sent them live, so the simulator stops moving it.

    Idempotent on (equipment, ts): a re-sent reading is accepted and counted as a duplicate. Bad items are
    rejected with reasons per field; they never stop the good ones.
    """
    now = now or timezone.now()
    report = TelemetryReport(received=len(items))
    by_kind: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        kind = item.get("kind") if isinstance(item, dict) else None
        if not isinstance(item, dict):
            report.rejected.append({"index": position, "errors": {"non_field_errors": ["must be an object"]}})
        elif kind not in SENSORS:
            reason = "missing" if kind is None else f"{kind!r} is not one of {', '.join(SENSORS)}"
            report.rejected.append({"index": position, "errors": {"kind": [reason]}})
        else:
            by_kind.setdefault(kind, []).append(position)
    for kind, positions in by_kind.items():
        model = readings.history(kind).equipment
        kind_items = [items[position] for position in positions]
        wanted = {item.get("equipment_id") for item in kind_items}
        ids = [value for value in wanted if isinstance(value, int) and not isinstance(value, bool)]
        known = _known_equipment(model, ids, _LIMIT_COLUMNS.get(kind))
        checked = telemetry.check(kind, kind_items, np.asarray(positions), known, now)
        report.rejected += [{"index": index, "errors": errors} for index, errors in checked.errors.items()]
        if len(checked.readings):
            result = readings.ingest_readings(kind, checked.readings)
            report.inserted += result.inserted
            report.duplicates += result.duplicates
            report.accepted += len(checked.readings)
            live_ids = np.unique(checked.readings["equipment_id"].to_numpy()).tolist()
            report.marked_live += _mark_live(model, live_ids)
    report.rejected.sort(key=lambda item: item["index"])
    return report


def _known_equipment(model: type[models.Model], ids: list[int], limit_column: str | None) -> dict:
    """id -> limit (fuel tank, capacity, or None) of the equipment among `ids` that exists.

    One array parameter (`= ANY(%s)`) rather than IN with a placeholder per id: a 5,000-id IN list costs
    more to build and parse than the query costs to run.
    """
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id, {limit_column or "NULL"} FROM "{table}" WHERE id = ANY(%s)', [ids])
        return dict(cursor.fetchall())


def _mark_live(model: type[models.Model], ids: list[int]) -> int:
    """Mark equipment fed by telemetry; fleet.ticking reads the flag and the simulator leaves it alone."""
    with connection.cursor() as cursor:
        table = model._meta.db_table
        cursor.execute(f'UPDATE "{table}" SET live = true WHERE id = ANY(%s) AND NOT live', [ids])
        return cursor.rowcount


# --- Importing reading CSV files (management command import_readings)


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    created_equipment: list[str] = field(default_factory=list)
    dry_run: bool = False


class ImportFailed(Exception):
    """The file was refused and nothing was written; the message says what and where."""


def _equipment_lookup(kind: str, *, create_missing: bool, created: list[str]) -> csvformat.Lookup:
    item = readings.history(kind)
    limit_field = {"truck": "fuel_tank_l", "stockpile": "capacity_t"}.get(kind)
    known: dict[tuple[str, str], tuple[int, float | None]] = {}
    for pk, slug, name, limit in item.equipment.objects.values_list(
        "pk", "site__slug", "name", limit_field or "pk"
    ):
        known[(slug, name)] = (pk, limit if limit_field else None)
    sites = dict(Site.objects.values_list("slug", "pk"))

    def lookup(site: str, name: str) -> tuple[int, float | None] | None:
        if (site, name) in known or not create_missing or site not in sites:
            return known.get((site, name))
        unit = item.equipment.objects.create(site_id=sites[site], name=name, **PLACEHOLDER_SPECS[kind])
        created.append(f"{site}/{name}")
        known[(site, name)] = (unit.pk, getattr(unit, limit_field) if limit_field else None)
        return known[(site, name)]

    return lookup


#: Specifications given to equipment created by `import_readings --create-missing` (edit them in the admin):
#: the schema's upper limits, so no reading is refused for exceeding a made-up tank or pile size.
PLACEHOLDER_SPECS: dict[str, dict[str, object]] = {
    "truck": {
        "model": "imported",
        "rated_payload_t": SENSORS["truck"]["payload_t"].maximum,
        "fuel_tank_l": SENSORS["truck"]["fuel_l"].maximum,
        "engine_power_kw": 0.0,
    },
    "crusher": {"model": "imported", "rated_capacity_tph": SENSORS["crusher"]["throughput_tph"].maximum},
    "stockpile": {"capacity_t": SENSORS["stockpile"]["level_t"].maximum},
}


def import_readings_csv(
    *,
    path: str | Path,
    kind: str = "auto",
    create_missing: bool = False,
    dry_run: bool = False,
    chunk_rows: int = 100_000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a reading CSV (optionally gzip) all or nothing, in one transaction.

    Every row is validated (columns, types, ranges, time zones, known equipment); on any bad row nothing is
    written and ImportFailed lists the first bad rows by line and column. Readings already stored are
    skipped and counted as duplicates. A dry run does everything, then rolls back.
    """
    try:
        with csvformat.open_readings(path, progress) as (header, rows), transaction.atomic():
            report = _import_rows(header, rows, kind, create_missing, chunk_rows)
            report.dry_run = dry_run
            if dry_run:
                transaction.set_rollback(True)
            return report
    except csvformat.CsvFormatError as error:
        raise ImportFailed(f"{path}: {error}") from None


def _import_rows(
    header: list[str], rows: TextIO, kind: str, create_missing: bool, chunk_rows: int
) -> ImportReport:
    detected = csvformat.detect_kind(header)
    if kind == "auto":
        if detected is None:
            raise csvformat.CsvFormatError(
                f"the header matches no equipment kind ({', '.join(SENSORS)}): {','.join(header)}"
            )
        kind = detected
    expected = csvformat.columns(kind)
    if set(header) != set(expected) or len(header) != len(expected):
        missing = [name for name in expected if name not in header]
        extra = [name for name in header if name not in expected or header.count(name) > 1]
        raise csvformat.CsvFormatError(
            f"columns do not match {kind} readings: missing {', '.join(missing) or 'none'}; "
            f"unexpected {', '.join(extra) or 'none'}"
        )
    report = ImportReport(kind=kind)
    lookup = _equipment_lookup(kind, create_missing=create_missing, created=report.created_equipment)
    bad_rows, problems = 0, []
    line = 2
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops the extra values) when the first row is too long; later rows raise.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            chunks = pd.read_csv(
                rows, header=None, names=header, chunksize=chunk_rows, **csvformat.read_options(kind)
            )
            for chunk in _parsed_ahead(chunks):
                checked = csvformat.validate_chunk(chunk, kind=kind, first_line=line, lookup=lookup)
                line += len(chunk)
                report.rows += len(chunk)
                if checked.bad_rows:
                    bad_rows += checked.bad_rows
                    problems += checked.problems[: csvformat.MAX_REPORTED - len(problems)]
                elif not bad_rows:  # after the first bad row keep validating (to count), but stop writing
                    result = readings.ingest_readings(kind, checked.readings)
                    report.inserted += result.inserted
                    report.duplicates += result.duplicates
    except pd.errors.ParserWarning:
        raise csvformat.CsvFormatError(f"line {line} has more than {len(header)} fields") from None
    except pd.errors.ParserError as error:
        raise csvformat.CsvFormatError(_parser_message(error, first_line=2)) from None
    except pd.errors.EmptyDataError:
        raise csvformat.CsvFormatError("no readings after the header") from None
    if bad_rows:
        listed = "; ".join(str(problem) for problem in problems)
        raise csvformat.CsvFormatError(f"{bad_rows} bad row(s), nothing imported: {listed}")
    if not report.rows:
        raise csvformat.CsvFormatError("no readings after the header")
    return report


def _parsed_ahead(chunks: Iterator[pd.DataFrame], depth: int = 2) -> Iterator[pd.DataFrame]:
    """Parse the next chunks in a thread while the database digests the current one.

    pandas' C parser and psycopg's wait for the server both release the GIL, so on two cores parsing and
    COPY overlap. Only parsing runs in the thread; validation and every database call stay in the caller's
    thread (and its transaction). Parser errors are raised in the caller's thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not put(("chunk", chunk)):
                    return
            put(("end", None))
        except BaseException as error:  # handed to the caller's thread, which raises it
            put(("error", error))

    worker = threading.Thread(target=produce, name="import-readings-parser", daemon=True)
    worker.start()
    try:
        while True:
            what, value = ready.get()
            if what == "end":
                return
            if what == "error":
                raise value
            yield value
    finally:
        stop.set()
        worker.join(timeout=10)


def _parser_message(error: Exception, *, first_line: int) -> str:
    """pandas counts lines from the first data row; say which line of the file it is."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if found:
        expected, line, saw = (int(value) for value in found.groups())
        return f"line {line + first_line - 1} has {saw} fields, expected {expected}"
    return f"not a CSV file of readings ({str(error).strip().splitlines()[-1]})"


# --- Seeding a site from the engine's layout (management command seed_site)


@dataclass
class SeedResult:
    site: Site
    created: bool


#: The engine's default site name (one source: fleet.sim.layout.default_site).
DEFAULT_SITE_NAME: str = inspect.signature(layout.default_site).parameters["name"].default
#: Crusher type from the model names used in fleet/sim/layout.py.
_CRUSHER_TYPES = {"gyratory": CrusherType.GYRATORY, "jaw": CrusherType.JAW, "cone": CrusherType.CONE}
_MATERIAL_NAMES = {
    MaterialKind.ORE: "Run-of-mine ore",
    MaterialKind.PRODUCT: "Lump and fines product",
    MaterialKind.WASTE: "Waste rock",
}


@transaction.atomic
def seed_site(
    *,
    name: str = DEFAULT_SITE_NAME,
    trucks: int,
    crushers: int,
    stockpiles: int,
    loaders: int | None = None,
    seed: int = 7,
    start: dt.datetime | None = None,
) -> SeedResult:
    """Create a site with its zones, loaders, roads, dumps, crushers, stockpiles and trucks.

    The layout comes from the engine (fleet.sim.layout.default_site), so the database and the simulation
    start from the same mine; the engine state is stored on the site with ids replaced by database keys.
    Idempotent: a site with this name is left as it is.
    """
    existing = Site.objects.filter(name=name).first()
    if existing is not None:
        return SeedResult(existing, created=False)
    start = start or timezone.now()  # a live twin's simulated clock starts now
    state = layout.default_site(
        seed=seed,
        trucks=trucks,
        crushers=crushers,
        stockpiles=stockpiles,
        loaders=loaders,
        name=name,
        clock_s=start.timestamp(),
    )
    site = Site.objects.create(
        name=name,
        slug=_unique_slug(name),
        centre_lat=layout.SITE_ORIGIN[0],
        centre_lon=layout.SITE_ORIGIN[1],
        tick=state.tick,
        sim_clock=dt.datetime.fromtimestamp(state.clock_s, dt.UTC),
        is_default=not Site.objects.filter(is_default=True).exists(),
    )
    ids = _create_units(site, state)
    _remap_ids(state, ids)
    site.sim_state = state.to_dict()
    site.save(update_fields=["sim_state"])
    return SeedResult(site, created=True)


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "site"
    slug, n = base, 1
    while Site.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _sensor_values(unit, kind: str) -> dict[str, float]:
    return {name: getattr(unit, name) for name in SENSORS[kind]}


def _create_units(site: Site, state: SiteState) -> dict[str, dict[int, int]]:
    """Database rows for every unit of `state`; returns engine id -> primary key per unit kind."""
    from plants.models import Crusher
    from stockpiles.models import Material, Stockpile

    ids: dict[str, dict[int, int]] = {}
    loader_targets: dict[int, float] = {}
    for loader in state.loaders:
        loader_targets[loader.zone_id] = loader_targets.get(loader.zone_id, 0.0) + loader.shift_target_t
    ids["zone"] = {
        zone.id: MiningZone.objects.create(
            site=site,
            name=zone.name,
            bench_rl_m=zone.bench_rl_m,
            material=str(zone.material),
            grade_pct=zone.grade_pct,
            initial_t=zone.initial_t,
            remaining_t=zone.remaining_t,
            shift_target_t=loader_targets.get(zone.id, 0.0),
            status=str(zone.status),
            lat=zone.lat,
            lon=zone.lon,
            polygon=[list(point) for point in zone.polygon],
        ).pk
        for zone in state.zones
    }
    materials = {
        kind: Material.objects.create(site=site, name=_MATERIAL_NAMES[kind], kind=kind, grade_pct=grade)
        for kind, grade in _material_grades(state).items()
    }
    ids["stockpile"] = {
        pile.id: Stockpile.objects.create(
            site=site,
            name=pile.name,
            material=materials.get(pile.material),
            capacity_t=pile.capacity_t,
            reclaim_rate_tph=pile.reclaim_rate_tph,
            low_pct=pile.low_pct,
            high_pct=pile.high_pct,
            status=str(pile.status),
            lat=pile.lat,
            lon=pile.lon,
            live=pile.live,
            **_sensor_values(pile, "stockpile"),
        ).pk
        for pile in state.stockpiles
    }
    ids["crusher"] = {
        crusher.id: Crusher.objects.create(
            site=site,
            name=crusher.name,
            model=crusher.model,
            crusher_type=next(
                (t for word, t in _CRUSHER_TYPES.items() if word in crusher.model.lower()),
                CrusherType.GYRATORY,
            ),
            rated_capacity_tph=crusher.rated_tph,
            motor_power_kw=crusher.motor_power_kw,
            feed_bin_capacity_t=crusher.feed_bin_capacity_t,
            liner_life_t=crusher.liner_life_t,
            tip_points=crusher.tip_points,
            shift_target_t=crusher.shift_target_t,
            stockpile_id=ids["stockpile"].get(crusher.stockpile_id),
            status=str(crusher.status),
            lat=crusher.lat,
            lon=crusher.lon,
            live=crusher.live,
            **_sensor_values(crusher, "crusher"),
        ).pk
        for crusher in state.crushers
    }
    ids["dump"] = {
        dump.id: WasteDump.objects.create(
            site=site,
            name=dump.name,
            capacity_t=dump.capacity_t,
            dumped_t=dump.dumped_t,
            tip_points=dump.tip_points,
            lat=dump.lat,
            lon=dump.lon,
            live=dump.live,
        ).pk
        for dump in state.dumps
    }
    ids["loader"] = {
        loader.id: Loader.objects.create(
            site=site,
            name=loader.name,
            model=loader.model,
            zone_id=ids["zone"][loader.zone_id],
            dig_rate_tph=loader.dig_rate_tph,
            bucket_t=loader.bucket_t,
            engine_power_kw=loader.engine_power_kw,
            shift_target_t=loader.shift_target_t,
            engine_hours=loader.engine_hours,
            status=str(loader.status),
            lat=loader.lat,
            lon=loader.lon,
            health=loader.health,
            live=loader.live,
        ).pk
        for loader in state.loaders
    }
    trucks = Truck.objects.bulk_create(
        Truck(
            site=site,
            name=truck.name,
            model=truck.model,
            rated_payload_t=truck.rated_payload_t,
            empty_mass_t=truck.empty_mass_t,
            engine_power_kw=truck.engine_power_kw,
            fuel_tank_l=truck.fuel_tank_l,
            max_speed_empty_kmh=truck.max_speed_empty_kmh,
            max_speed_loaded_kmh=truck.max_speed_loaded_kmh,
            cold_tyre_pressure_kpa=truck.cold_tyre_pressure_kpa,
            status=str(truck.status),
            live=truck.live,
            **_sensor_values(truck, "truck"),
        )
        for truck in state.trucks
    )
    ids["truck"] = {unit.id: row.pk for unit, row in zip(state.trucks, trucks, strict=True)}
    names = _node_names(state)
    ids["road"] = {
        road.id: HaulRoad.objects.create(
            site=site,
            name=road.name,
            from_point=names.get(road.start_node, road.start_node),
            to_point=names.get(road.end_node, road.end_node),
            start_node=_remap_node(road.start_node, ids),
            end_node=_remap_node(road.end_node, ids),
            polyline=[list(point) for point in road.polyline],
            length_m=road.length_m,
            grade_pct=road.grade_pct,
            speed_limit_empty_kmh=road.speed_limit_empty_kmh,
            speed_limit_loaded_kmh=road.speed_limit_loaded_kmh,
        ).pk
        for road in state.roads
    }
    return ids


def _material_grades(state: SiteState) -> dict[str, float]:
    grades: dict[str, float] = {}
    for pile in state.stockpiles:
        grades.setdefault(str(pile.material), pile.grade_pct)
    for zone in state.zones:
        grades.setdefault(str(zone.material), zone.grade_pct)
    return grades


def _node_names(state: SiteState) -> dict[str, str]:
    """Road-network node -> a name people know ("Z-03", "CR-01", "Pit exit")."""
    names = {node_name("zone", z.id): z.name for z in state.zones}
    names |= {node_name("crusher", c.id): c.name for c in state.crushers}
    names |= {node_name("dump", d.id): d.name for d in state.dumps}
    names |= {node_name("fuel", f.id): f.name for f in state.fuel_bays}
    names[layout.PIT_EXIT_NODE] = "Pit exit"
    return names


#: Node kinds whose id is a database key once seeded (fuel bays and junctions have no table).
_NODE_KINDS = {"zone": "zone", "crusher": "crusher", "dump": "dump"}


def _remap_node(node: str, ids: dict[str, dict[int, int]]) -> str:
    kind, _, unit_id = node.partition(":")
    if kind in _NODE_KINDS and unit_id.isdigit():
        return node_name(kind, ids[_NODE_KINDS[kind]][int(unit_id)])
    return node


def _remap_ids(state: SiteState, ids: dict[str, dict[int, int]]) -> None:
    """Replace the engine's 1..N ids by database keys everywhere the state refers to a unit."""

    def remap(kind: str, value: int | None) -> int | None:
        return None if value is None else ids[kind][value]

    for kind, units in (
        ("zone", state.zones),
        ("stockpile", state.stockpiles),
        ("crusher", state.crushers),
        ("dump", state.dumps),
        ("loader", state.loaders),
        ("truck", state.trucks),
        ("road", state.roads),
    ):
        for unit in units:
            unit.id = ids[kind][unit.id]
    for road in state.roads:
        road.start_node, road.end_node = _remap_node(road.start_node, ids), _remap_node(road.end_node, ids)
    for loader in state.loaders:
        loader.zone_id = remap("zone", loader.zone_id)
        loader.queue = [remap("truck", t) for t in loader.queue]
        loader.loading_truck_id = remap("truck", loader.loading_truck_id)
    for crusher in state.crushers:
        crusher.stockpile_id = remap("stockpile", crusher.stockpile_id)
        crusher.queue = [remap("truck", t) for t in crusher.queue]
        crusher.tipping = [remap("truck", t) for t in crusher.tipping]
    for pile in state.stockpiles:
        pile.crusher_id = remap("crusher", pile.crusher_id)
    for dump in state.dumps:
        dump.queue = [remap("truck", t) for t in dump.queue]
        dump.tipping = [remap("truck", t) for t in dump.tipping]
    for truck in state.trucks:
        truck.node = _remap_node(truck.node, ids) if truck.node else truck.node
        truck.target_node = _remap_node(truck.target_node, ids) if truck.target_node else truck.target_node
        truck.route = [[remap("road", road_id), forward] for road_id, forward in truck.route]
        truck.last_loader_id = remap("loader", truck.last_loader_id)
        if truck.assignment:
            truck.assignment = {
                **truck.assignment,
                "loader_id": remap("loader", truck.assignment.get("loader_id")),
                "destination_id": remap(
                    truck.assignment.get("destination_kind"), truck.assignment.get("destination_id")
                ),
            }


# --- The beat schedule of simulation ticks

TICK_TASK = "fleet.tasks.tick_site_task"


def tick_task_name(site: Site) -> str:
    return f"Simulation tick: {site.name}"


@transaction.atomic
def sync_tick_schedules(*, interval_s: float) -> int:
    """One beat entry per site ticking it every interval_s (enabled while not paused); returns how many.

    Entries are ordinary django-celery-beat PeriodicTasks, so operators can retime or disable them in
    admin; an existing entry keeps the schedule an operator gave it. Each firing expires after one
    interval, so a backlog of stale ticks is dropped instead of run late.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    microseconds = max(1, round(interval_s * 1_000_000))
    if microseconds % 1_000_000 == 0:
        every, period = microseconds // 1_000_000, IntervalSchedule.SECONDS
    else:
        every, period = microseconds, IntervalSchedule.MICROSECONDS
    schedule, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
    count = 0
    for site in Site.objects.order_by("pk"):
        task, _ = PeriodicTask.objects.get_or_create(
            task=TICK_TASK,
            args=f"[{site.pk}]",
            defaults={
                "name": tick_task_name(site),
                "interval": schedule,
                "expire_seconds": max(1, round(interval_s)),
            },
        )
        if task.enabled == site.paused:
            task.enabled = not site.paused
            task.save(update_fields=["enabled"])
        count += 1
    return count
