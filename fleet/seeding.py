"""Seeding a site from the engine's layout (management command seed_site): the database and the simulation
start from the same mine.

fleet creates the site, its zones, dumps, loaders, trucks and roads; the other kinds of equipment are created
by the apps that own them, through their registered seeders (fleet.units), in app order.
"""

from __future__ import annotations

import datetime as dt
import inspect
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from fleet import units
from fleet.models import HaulRoad, Loader, MiningZone, SimEvent, Site, Truck, WasteDump
from fleet.sim import layout
from fleet.sim.faults import SERVICE_RECORD, service_records
from fleet.sim.schema import SENSORS
from fleet.sim.state import SiteState, node_name


@dataclass
class SeedResult:
    site: Site
    created: bool


#: The engine's default site name (one source: fleet.sim.layout.default_site).
DEFAULT_SITE_NAME: str = inspect.signature(layout.default_site).parameters["name"].default
#: Every seeded site is laid out around layout.SITE_ORIGIN, in the Pilbara, so its shifts run on Western
#: Australian time (AWST, UTC+8, no daylight saving).
SITE_TIMEZONE = "Australia/Perth"


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
        timezone=SITE_TIMEZONE,
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
    record_last_services(site, state)
    return SeedResult(site, created=True)


def record_last_services(site: Site, state: SiteState) -> None:
    """Each unit's last service before `state`'s clock, as the maintenance record gives it (failure risk
    counts a unit's age from it until the twin records a repair of its own), replacing earlier records: a
    history simulated back in time starts from its own state, so its records move with it."""
    SimEvent.objects.filter(site=site, kind=SERVICE_RECORD).delete()
    SimEvent.objects.bulk_create(SimEvent.from_engine(site, event) for event in service_records(state))


def _unique_slug(name: str) -> str:
    base = slugify(name)[:90] or "site"
    slug, n = base, 1
    while Site.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def sensor_values(unit, kind: str) -> dict[str, float]:
    """The engine unit's sensor values, as the keyword arguments of its equipment row."""
    return {name: getattr(unit, name) for name in SENSORS[kind]}


def _create_units(site: Site, state: SiteState) -> dict[str, dict[int, int]]:
    """Database rows for every unit of `state`; returns engine id -> primary key per unit kind."""
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
            **layout.truck_spec(truck),
            status=str(truck.status),
            live=truck.live,
            **sensor_values(truck, "truck"),
        )
        for truck in state.trucks
    )
    ids["truck"] = {unit.id: row.pk for unit, row in zip(state.trucks, trucks, strict=True)}
    for unit_kind in units.all_kinds():
        if unit_kind.seed is not None:
            ids[unit_kind.kind] = unit_kind.seed(site, state, ids)
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

    for kind, engine_units in (
        ("zone", state.zones),
        ("stockpile", state.stockpiles),
        ("crusher", state.crushers),
        ("dump", state.dumps),
        ("loader", state.loaders),
        ("truck", state.trucks),
        ("road", state.roads),
    ):
        for unit in engine_units:
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
