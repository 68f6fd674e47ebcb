"""The haul cycle: assignment → travel empty → queue → load → haul → queue → dump → return.

Each truck spends its share of a step working through the phases of its cycle in order, carrying leftover
time into the next phase. Loaders and dump points serve their queues first-in, first-out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from fleet.dispatch import Assignment, DestinationSnapshot, DispatchSnapshot, LoaderSnapshot, TruckSnapshot
from fleet.sim.crusher import DOWN as CRUSHER_DOWN
from fleet.sim.crusher import crusher_accepting, crusher_room_t
from fleet.sim.faults import FAULT_EFFICIENCY_LOSS, severity
from fleet.sim.roads import DRIVETRAIN_EFFICIENCY, G_M_S2, ROLLING_RESISTANCE
from fleet.sim.schema import LoaderStatus, MaterialKind, StockpileStatus, TruckStatus, ZoneStatus
from fleet.sim.state import CrusherState, LoaderState, TruckState, node_name

if TYPE_CHECKING:
    from fleet.sim.context import Tick

SPECIFIC_FUEL_L_PER_KWH = 0.24  # diesel at load, 0.21-0.25 L/kWh for Cat 3516/3512 class engines
IDLE_LOAD_FACTOR = 0.10  # idling diesel burns ~8-12 % of its rated fuel
DUMP_LOAD_FACTOR = 0.30  # raising the body on the hoist
SPOT_AT_LOADER_S = 40.0  # spot time at the shovel, 0.6-0.8 min (Caterpillar Performance Handbook)
DUMP_AT_CRUSHER_S = 60.0  # manoeuvre and tip into a crusher pocket, ~1 min
DUMP_AT_WASTE_S = 70.0  # longer manoeuvre on a tip head
REFUEL_AT_SHARE = 0.20  # a truck goes to the fuel bay below 20 % of its tank (typical dispatch rule)
REFUEL_SETUP_S = 180.0  # park, connect the fast-fill nozzle, disconnect
# Payload per load as a share of rated: the 10/10/20 rule (Caterpillar payload policy) allows at most 10 % of
# loads above 110 % and none above 120 %. Mean 0.99, sd 0.045 puts ~1.5 % above 110 % and none above 119 %.
PAYLOAD_MEAN_SHARE = 0.99
PAYLOAD_SD_SHARE = 0.045
PAYLOAD_MIN_SHARE = 0.75
PAYLOAD_MAX_SHARE = 1.19
EPS = 1e-9

DOWN = (TruckStatus.MAINTENANCE, TruckStatus.BROKEN_DOWN)


def run_engine(truck: TruckState, seconds: float, load_factor: float) -> None:
    """Burn fuel, add engine hours and wear for `seconds` at `load_factor` of rated power."""
    hours = seconds / 3600.0
    truck.fuel_l = max(
        0.0, truck.fuel_l - truck.engine_power_kw * load_factor * SPECIFIC_FUEL_L_PER_KWH * hours
    )
    truck.engine_hours += hours
    truck.wear_h += hours * (0.4 + 0.9 * load_factor)  # hard work wears faster than idling
    truck.load_factor = load_factor


def needs_fuel(truck: TruckState) -> bool:
    return truck.fuel_l < REFUEL_AT_SHARE * truck.fuel_tank_l


def loader_available(tick: Tick, loader: LoaderState) -> bool:
    if loader.live or loader.status in (LoaderStatus.MAINTENANCE, LoaderStatus.BROKEN_DOWN):
        return False
    if loader.relocating_left_s > 0:
        return False
    zone = tick.zones.get(loader.zone_id)
    return zone is not None and zone.status == ZoneStatus.ACTIVE and zone.remaining_t > EPS


def leg_speed(tick: Tick, truck: TruckState, road_id: int, forward: bool) -> tuple[float, float]:
    """Speed (m/s) and engine load factor on a road: the lower of the limits and what the engine can pull."""
    road = tick.topo.roads[road_id].road
    loaded = truck.payload_t > 0
    limit_kmh = min(
        road.speed_limit_loaded_kmh if loaded else road.speed_limit_empty_kmh,
        truck.max_speed_loaded_kmh if loaded else truck.max_speed_empty_kmh,
    )
    speed_ms = limit_kmh / 3.6
    resistance = (road.grade_pct if forward else -road.grade_pct) / 100.0 + ROLLING_RESISTANCE
    mass_kg = (truck.empty_mass_t + truck.payload_t) * 1000.0
    wheel_w = truck.engine_power_kw * 1000.0 * DRIVETRAIN_EFFICIENCY
    if resistance > 0:
        speed_ms = min(speed_ms, wheel_w / (mass_kg * G_M_S2 * resistance))
    speed_ms *= 1.0 - FAULT_EFFICIENCY_LOSS * severity(truck.fault, tick.clock_s)
    power_w = mass_kg * G_M_S2 * max(resistance, 0.0) * speed_ms / DRIVETRAIN_EFFICIENCY
    load_factor = min(1.0, max(IDLE_LOAD_FACTOR, power_w / (truck.engine_power_kw * 1000.0)))
    return speed_ms, load_factor


def _enter_road(tick: Tick, truck: TruckState) -> None:
    road_id, forward = truck.route[truck.route_index]
    truck.leg_speed_ms, truck.leg_load_factor = leg_speed(tick, truck, road_id, forward)
    truck.speed_kmh = truck.leg_speed_ms * 3.6


def start_route(tick: Tick, truck: TruckState, target: str, status: TruckStatus) -> bool:
    route = tick.topo.route(truck.node, target)
    if route is None:
        return False
    truck.route = [[road_id, forward] for road_id, forward in route]
    truck.route_index = 0
    truck.road_pos_m = 0.0
    truck.target_node = target
    truck.status = status
    if truck.route:
        _enter_road(tick, truck)
    return True


def resume_route(tick: Tick, truck: TruckState) -> None:
    """Pick up speed again on the current road after a stop (breakdown, maintenance)."""
    if truck.route and truck.route_index < len(truck.route):
        _enter_road(tick, truck)


def _travel(tick: Tick, truck: TruckState, budget_s: float) -> float:
    """Drive along the route; returns the time left over after arriving (0 if still on the road)."""
    while truck.route_index < len(truck.route):
        road_id, _ = truck.route[truck.route_index]
        remaining_m = tick.topo.roads[road_id].road.length_m - truck.road_pos_m
        need_s = remaining_m / truck.leg_speed_ms if truck.leg_speed_ms > 0 else math.inf
        if need_s > budget_s:
            truck.road_pos_m += truck.leg_speed_ms * budget_s
            run_engine(truck, budget_s, truck.leg_load_factor)
            return 0.0
        run_engine(truck, need_s, truck.leg_load_factor)
        budget_s -= need_s
        truck.route_index += 1
        truck.road_pos_m = 0.0
        if truck.route_index < len(truck.route):
            _enter_road(tick, truck)
    _arrive(tick, truck)
    return budget_s


def _arrive(tick: Tick, truck: TruckState) -> None:
    truck.node = truck.target_node
    truck.route = []
    truck.route_index = 0
    truck.road_pos_m = 0.0
    truck.speed_kmh = 0.0
    kind, _, unit_id = truck.node.partition(":")
    if kind == "fuel":
        bay = next((b for b in tick.state.fuel_bays if str(b.id) == unit_id), None)
        flow_ls = (bay.flow_lpm if bay else 500.0) / 60.0
        truck.status = TruckStatus.REFUELLING
        truck.refuel_from_l = truck.fuel_l
        truck.phase_total_s = truck.timer_s = REFUEL_SETUP_S + (truck.fuel_tank_l - truck.fuel_l) / flow_ls
        return
    assignment = truck.assignment or {}
    if kind == "zone":
        loader = tick.loaders.get(assignment.get("loader_id"))
        if (
            loader is None
            or not loader_available(tick, loader)
            or node_name("zone", loader.zone_id) != truck.node
        ):
            truck.status = TruckStatus.WAITING
            return
        loader.queue.append(truck.id)
        truck.status = TruckStatus.QUEUED_AT_LOADER
        tick.emit("queued", "truck", truck.id, at="loader", loader_id=loader.id, position=len(loader.queue))
        serve_loader(tick, loader)
        return
    if kind in ("crusher", "dump"):
        unit = tick.destination(kind, int(unit_id))
        if unit is None or unit.live:
            truck.status = TruckStatus.WAITING
            return
        unit.queue.append(truck.id)
        truck.status = TruckStatus.QUEUED_AT_DUMP
        tick.emit("queued", "truck", truck.id, at=kind, destination_id=unit.id, position=len(unit.queue))
        serve_tip(tick, kind, unit)
        return
    truck.status = TruckStatus.WAITING


def serve_loader(tick: Tick, loader: LoaderState) -> None:
    """Start loading the next queued truck if the loader is free."""
    if loader.loading_truck_id is not None or not loader.queue or not loader_available(tick, loader):
        return
    truck = tick.trucks[loader.queue.pop(0)]
    zone = tick.zones[loader.zone_id]
    share = min(
        max(tick.rng.normal(PAYLOAD_MEAN_SHARE, PAYLOAD_SD_SHARE), PAYLOAD_MIN_SHARE), PAYLOAD_MAX_SHARE
    )
    target_t = max(min(truck.rated_payload_t * share - truck.payload_t, zone.remaining_t), 0.0)
    truck.load_start_t = truck.payload_t
    truck.target_payload_t = truck.payload_t + target_t
    truck.passes_total = max(1, math.ceil(target_t / loader.bucket_t))
    truck.pass_s = loader.bucket_t / loader.dig_rate_tph * 3600.0
    truck.phase_total_s = truck.timer_s = SPOT_AT_LOADER_S + truck.passes_total * truck.pass_s
    truck.material = str(zone.material)
    truck.grade_pct = zone.grade_pct
    truck.status = TruckStatus.LOADING
    loader.loading_truck_id = truck.id
    loader.status = LoaderStatus.LOADING


def _passes_done(truck: TruckState, elapsed_s: float) -> int:
    if elapsed_s <= SPOT_AT_LOADER_S:
        return 0
    return min(truck.passes_total, int((elapsed_s - SPOT_AT_LOADER_S) // truck.pass_s))


def _load(tick: Tick, truck: TruckState, budget_s: float) -> float:
    used = min(budget_s, truck.timer_s)
    elapsed_before = truck.phase_total_s - truck.timer_s
    truck.timer_s -= used
    run_engine(truck, used, IDLE_LOAD_FACTOR)
    loader = tick.loaders[truck.assignment["loader_id"]]
    done = truck.timer_s <= EPS
    passes = truck.passes_total if done else _passes_done(truck, elapsed_before + used)
    if passes > _passes_done(truck, elapsed_before) or done:
        zone = tick.zones[loader.zone_id]
        share = passes / truck.passes_total
        new_payload = truck.load_start_t + (truck.target_payload_t - truck.load_start_t) * share
        delta = min(max(new_payload - truck.payload_t, 0.0), zone.remaining_t)
        truck.payload_t += delta
        zone.remaining_t -= delta
        loader.total_loaded_t += delta
        tick.state.totals["loaded_t"] += delta
    if done:
        _finish_loading(tick, truck, loader)
    return budget_s - used


def _finish_loading(tick: Tick, truck: TruckState, loader: LoaderState) -> None:
    zone = tick.zones[loader.zone_id]
    tick.emit(
        "loaded",
        "truck",
        truck.id,
        payload_t=truck.payload_t,
        rated_payload_t=truck.rated_payload_t,
        loader_id=loader.id,
        zone_id=zone.id,
        material=truck.material,
        grade_pct=truck.grade_pct,
        passes=truck.passes_total,
    )
    loader.loading_truck_id = None
    loader.status = LoaderStatus.IDLE
    if zone.remaining_t <= EPS:
        deplete_zone(tick, zone.id)
    serve_loader(tick, loader)
    assignment = truck.assignment or {}
    dest = tick.destination(assignment.get("destination_kind", ""), assignment.get("destination_id", -1))
    if (
        dest is None
        or dest.live
        or not start_route(
            tick, truck, node_name(assignment["destination_kind"], dest.id), TruckStatus.HAULING
        )
    ):
        truck.status = TruckStatus.WAITING  # ask the dispatcher where to take the load


def deplete_zone(tick: Tick, zone_id: int) -> None:
    """Mark a zone depleted and move its loader to the next planned face of the same material."""
    zone = tick.zones[zone_id]
    zone.remaining_t = 0.0
    zone.status = ZoneStatus.DEPLETED
    next_zone_id = None
    for loader in tick.state.loaders:
        if loader.zone_id != zone_id or loader.live:
            continue
        release_loader_trucks(tick, loader)
        taken = {other.zone_id for other in tick.state.loaders}
        for candidate in tick.state.zones:
            if (
                candidate.material == zone.material
                and candidate.status in (ZoneStatus.PLANNED, ZoneStatus.ACTIVE)
                and candidate.remaining_t > EPS
                and candidate.id not in taken
                and tick.topo.route(node_name("zone", zone_id), node_name("zone", candidate.id)) is not None
            ):
                candidate.status = ZoneStatus.ACTIVE
                loader.zone_id = candidate.id
                loader.lat, loader.lon = candidate.lat, candidate.lon
                loader.relocating_left_s = LOADER_RELOCATION_S
                next_zone_id = candidate.id
                break
    tick.emit("zone_depleted", "zone", zone_id, next_zone_id=next_zone_id)


LOADER_RELOCATION_S = 2 * 3600.0  # walking a shovel to a new face and setting up takes a couple of hours


def release_loader_trucks(tick: Tick, loader: LoaderState) -> None:
    """Send trucks queued at (or being loaded by) a loader back to the dispatcher; part loads stay on."""
    ids = list(loader.queue)
    if loader.loading_truck_id is not None:
        ids.insert(0, loader.loading_truck_id)
    loader.queue.clear()
    loader.loading_truck_id = None
    if loader.status == LoaderStatus.LOADING:
        loader.status = LoaderStatus.IDLE
    for truck_id in ids:
        truck = tick.trucks[truck_id]
        if truck.status in (TruckStatus.QUEUED_AT_LOADER, TruckStatus.LOADING):
            truck.status = TruckStatus.WAITING


def serve_tip(tick: Tick, kind: str, unit: Any) -> None:
    """Let queued trucks tip while there are free tip points and room for their loads (FIFO: the head of the
    queue blocks the rest, which is how a full feed bin backs trucks up)."""
    while unit.queue and len(unit.tipping) < unit.tip_points:
        truck = tick.trucks[unit.queue[0]]
        if kind == "crusher":
            if not crusher_accepting(tick, unit) or crusher_room_t(tick, unit) < truck.payload_t:
                return
        elif (
            unit.dumped_t + sum(tick.trucks[t].payload_t for t in unit.tipping) + truck.payload_t
            > unit.capacity_t
        ):
            return
        unit.queue.pop(0)
        unit.tipping.append(truck.id)
        truck.status = TruckStatus.DUMPING
        truck.phase_total_s = truck.timer_s = DUMP_AT_CRUSHER_S if kind == "crusher" else DUMP_AT_WASTE_S


def _dump(tick: Tick, truck: TruckState, budget_s: float) -> float:
    used = min(budget_s, truck.timer_s)
    truck.timer_s -= used
    run_engine(truck, used, DUMP_LOAD_FACTOR)
    if truck.timer_s > EPS:
        return 0.0
    kind, _, unit_id = truck.node.partition(":")
    unit = tick.destination(kind, int(unit_id))
    unit.tipping.remove(truck.id)
    payload_t = truck.payload_t
    if kind == "crusher":
        total = unit.feed_bin_t + payload_t
        if total > 0:
            unit.feed_grade_pct = (
                unit.feed_bin_t * unit.feed_grade_pct + payload_t * truck.grade_pct
            ) / total
        unit.feed_bin_t = total
        unit.total_in_t += payload_t
    else:
        unit.dumped_t += payload_t
    tick.state.totals["dumped_t"] += payload_t
    tick.emit(
        "dumped",
        "truck",
        truck.id,
        payload_t=payload_t,
        material=truck.material,
        grade_pct=truck.grade_pct,
        destination_kind=kind,
        destination_id=unit.id,
    )
    truck.payload_t = 0.0
    truck.material = None
    truck.assignment = None
    truck.status = TruckStatus.WAITING
    serve_tip(tick, kind, unit)
    return budget_s - used


def _refuel(tick: Tick, truck: TruckState, budget_s: float) -> float:
    used = min(budget_s, truck.timer_s)
    elapsed_before = truck.phase_total_s - truck.timer_s
    truck.timer_s -= used
    truck.load_factor = 0.0  # engine off at the bowser
    fill_s = max(0.0, elapsed_before + used - REFUEL_SETUP_S) - max(0.0, elapsed_before - REFUEL_SETUP_S)
    flow_ls = (truck.fuel_tank_l - truck.refuel_from_l) / max(truck.phase_total_s - REFUEL_SETUP_S, EPS)
    truck.fuel_l = min(truck.fuel_tank_l, truck.fuel_l + flow_ls * fill_s)
    if truck.timer_s > EPS:
        return 0.0
    truck.fuel_l = truck.fuel_tank_l
    tick.emit("refuelled", "truck", truck.id, fuel_l=truck.fuel_l, litres=truck.fuel_l - truck.refuel_from_l)
    truck.status = TruckStatus.WAITING
    return budget_s - used


def _nearest_fuel_bay(tick: Tick, truck: TruckState) -> str | None:
    best = None
    for bay in tick.state.fuel_bays:
        node = node_name("fuel", bay.id)
        distance = tick.topo.distance_m(truck.node, node)
        if math.isfinite(distance) and (best is None or distance < best[0]):
            best = (distance, node)
    return None if best is None else best[1]


def _wait(tick: Tick, truck: TruckState, budget_s: float) -> float:
    """Decide the next trip of a truck standing at a node; returns the budget left (0 if it stays)."""
    if truck.payload_t <= EPS and needs_fuel(truck):
        bay = _nearest_fuel_bay(tick, truck)
        if bay is not None and start_route(tick, truck, bay, TruckStatus.RETURNING):
            truck.assignment = None
            return budget_s
    assignment = ask_dispatcher(tick, truck)
    if assignment is not None:
        truck.assignment = {
            "loader_id": assignment.loader_id,
            "destination_kind": assignment.destination_kind,
            "destination_id": assignment.destination_id,
        }
        if truck.payload_t > EPS:
            target = node_name(assignment.destination_kind, assignment.destination_id)
            moved = start_route(tick, truck, target, TruckStatus.HAULING)
        else:
            loader = tick.loaders[assignment.loader_id]
            truck.last_loader_id = loader.id
            moved = start_route(tick, truck, node_name("zone", loader.zone_id), TruckStatus.RETURNING)
        if moved:
            return budget_s
        truck.assignment = None
    run_engine(truck, budget_s, IDLE_LOAD_FACTOR)
    truck.speed_kmh = 0.0
    return 0.0


def advance_truck(tick: Tick, truck: TruckState, budget_s: float) -> None:
    """Spend budget_s of simulated time on one truck's haul cycle."""
    for _ in range(12):  # a handful of phase changes fit in one sub-step; the cap only guards against loops
        if budget_s <= EPS:
            return
        status = truck.status
        if status == TruckStatus.RETURNING or status == TruckStatus.HAULING:
            if not truck.route:
                _arrive(tick, truck)
                continue
            budget_s = _travel(tick, truck, budget_s)
        elif status == TruckStatus.WAITING:
            budget_s = _wait(tick, truck, budget_s)
        elif status == TruckStatus.LOADING:
            budget_s = _load(tick, truck, budget_s)
        elif status == TruckStatus.DUMPING:
            budget_s = _dump(tick, truck, budget_s)
        elif status == TruckStatus.REFUELLING:
            budget_s = _refuel(tick, truck, budget_s)
        elif status == TruckStatus.QUEUED_AT_LOADER or status == TruckStatus.QUEUED_AT_DUMP:
            run_engine(truck, budget_s, IDLE_LOAD_FACTOR)
            truck.speed_kmh = 0.0
            return
        else:  # maintenance, broken down: engine off
            truck.load_factor = 0.0
            truck.speed_kmh = 0.0
            return


def detach_trucks(tick: Tick, truck_ids: set[int]) -> None:
    """Take trucks out of every queue and service (breakdown, maintenance, or now fed by live telemetry)."""
    for loader in tick.state.loaders:
        if loader.loading_truck_id in truck_ids:
            loader.loading_truck_id = None
            if loader.status == LoaderStatus.LOADING:
                loader.status = LoaderStatus.IDLE
        if any(t in truck_ids for t in loader.queue):
            loader.queue[:] = [t for t in loader.queue if t not in truck_ids]
    for unit in (*tick.state.crushers, *tick.state.dumps):
        if any(t in truck_ids for t in unit.queue) or any(t in truck_ids for t in unit.tipping):
            unit.queue[:] = [t for t in unit.queue if t not in truck_ids]
            unit.tipping[:] = [t for t in unit.tipping if t not in truck_ids]


def release_destination_trucks(tick: Tick, unit: Any) -> None:
    """Send trucks queued or tipping at a destination back to the dispatcher with their loads."""
    for truck_id in unit.queue + unit.tipping:
        truck = tick.trucks[truck_id]
        truck.status = TruckStatus.WAITING
    unit.queue.clear()
    unit.tipping.clear()


def locate_trucks(tick: Tick) -> None:
    """GPS position and heading of every simulated truck, interpolated along its road."""
    node_latlon = tick.topo.node_latlon
    roads = tick.topo.roads
    for truck in tick.state.trucks:
        if truck.live:
            continue
        if truck.route and truck.route_index < len(truck.route):
            road_id, forward = truck.route[truck.route_index]
            truck.lat, truck.lon, truck.heading_deg = roads[road_id].locate(forward, truck.road_pos_m)
        else:
            position = node_latlon.get(truck.node)
            if position is not None:
                truck.lat, truck.lon = position
            truck.speed_kmh = 0.0
        if truck.status not in (TruckStatus.RETURNING, TruckStatus.HAULING):
            truck.speed_kmh = 0.0


# Dispatching ------------------------------------------------------------------------------------------


def build_snapshot(tick: Tick) -> DispatchSnapshot:
    """The dispatcher's view of the site, in its own plain classes."""
    loader_assigned: dict[int, int] = {}
    loader_queue: dict[int, int] = {}
    dest_assigned: dict[tuple[str, int], int] = {}
    trucks: dict[int, TruckSnapshot] = {}
    for truck in tick.state.trucks:
        if truck.live:
            continue
        trucks[truck.id] = TruckSnapshot(
            id=truck.id,
            name=truck.name,
            status=str(truck.status),
            node=truck.target_node if truck.route else truck.node,
            lat=truck.lat,
            lon=truck.lon,
            payload_t=truck.payload_t,
            rated_payload_t=truck.rated_payload_t,
            material=truck.material if truck.payload_t > EPS else None,
            last_loader_id=truck.last_loader_id,
            fuel_pct=100.0 * truck.fuel_l / truck.fuel_tank_l if truck.fuel_tank_l else 0.0,
        )
        assignment = truck.assignment
        if assignment is None or truck.status in DOWN or truck.status == TruckStatus.WAITING:
            continue
        loader_id = assignment["loader_id"]
        if loader_id is not None and truck.status in (
            TruckStatus.RETURNING,
            TruckStatus.QUEUED_AT_LOADER,
            TruckStatus.LOADING,
        ):
            loader_assigned[loader_id] = loader_assigned.get(loader_id, 0) + 1
            if truck.status != TruckStatus.RETURNING:
                loader_queue[loader_id] = loader_queue.get(loader_id, 0) + 1
        key = (assignment["destination_kind"], assignment["destination_id"])
        dest_assigned[key] = dest_assigned.get(key, 0) + 1
    loaders: dict[int, LoaderSnapshot] = {}
    for loader in tick.state.loaders:
        if loader.live:
            continue
        zone = tick.zones.get(loader.zone_id)
        loaders[loader.id] = LoaderSnapshot(
            id=loader.id,
            name=loader.name,
            node=node_name("zone", loader.zone_id),
            zone_id=loader.zone_id,
            material=str(zone.material) if zone else "",
            grade_pct=zone.grade_pct if zone else 0.0,
            dig_rate_tph=loader.dig_rate_tph,
            bucket_t=loader.bucket_t,
            remaining_t=zone.remaining_t if zone else 0.0,
            available=loader_available(tick, loader),
            queue_length=loader_queue.get(loader.id, 0),
            assigned_trucks=loader_assigned.get(loader.id, 0),
            spot_s=SPOT_AT_LOADER_S,
            free_in_s=_loader_free_in_s(tick, loader),
        )
    destinations: list[DestinationSnapshot] = []
    for crusher in tick.state.crushers:
        if crusher.live:
            continue
        destinations.append(
            DestinationSnapshot(
                kind="crusher",
                id=crusher.id,
                name=crusher.name,
                node=node_name("crusher", crusher.id),
                material=MaterialKind.ORE.value,
                capacity_tph=_crusher_intake_tph(tick, crusher),
                room_t=crusher_room_t(tick, crusher),
                accepting=crusher_accepting(tick, crusher),
                queue_length=len(crusher.queue) + len(crusher.tipping),
                assigned_trucks=dest_assigned.get(("crusher", crusher.id), 0),
                tip_s=DUMP_AT_CRUSHER_S,
                tip_points=crusher.tip_points,
                in_service=crusher.status not in CRUSHER_DOWN and crusher.blockage_left_s <= 0,
            )
        )
    for dump in tick.state.dumps:
        if dump.live:
            continue
        room_t = dump.capacity_t - dump.dumped_t
        destinations.append(
            DestinationSnapshot(
                kind="dump",
                id=dump.id,
                name=dump.name,
                node=node_name("dump", dump.id),
                material=MaterialKind.WASTE.value,
                capacity_tph=0.0,
                room_t=room_t,
                accepting=room_t > 0,
                queue_length=len(dump.queue) + len(dump.tipping),
                assigned_trucks=dest_assigned.get(("dump", dump.id), 0),
                tip_s=DUMP_AT_WASTE_S,
                tip_points=dump.tip_points,
                in_service=room_t > 0,
            )
        )
    return DispatchSnapshot(
        clock_s=tick.clock_s,
        trucks=trucks,
        loaders=loaders,
        destinations=destinations,
        travel_time_s=tick.topo.travel_time_s,
        haul_time_s=tick.topo.haul_time_s,
    )


def _loader_free_in_s(tick: Tick, loader: LoaderState) -> float:
    """Seconds until the loader has loaded the truck under it and those queued (each at its rated payload)."""
    busy_s = 0.0
    if loader.loading_truck_id is not None:
        busy_s = tick.trucks[loader.loading_truck_id].timer_s
    pass_s = loader.bucket_t / loader.dig_rate_tph * 3600.0
    for truck_id in loader.queue:
        passes = max(
            1, math.ceil(tick.trucks[truck_id].rated_payload_t * PAYLOAD_MEAN_SHARE / loader.bucket_t)
        )
        busy_s += SPOT_AT_LOADER_S + passes * pass_s
    return busy_s


def _crusher_intake_tph(tick: Tick, crusher: CrusherState) -> float:
    """What a crusher can take in for hours: rated x efficiency, but only the reclaim rate once its stockpile
    is full (backpressure); 0 while it is down."""
    if crusher.status in CRUSHER_DOWN:
        return 0.0
    rate_tph = crusher.rated_tph * crusher.efficiency_pct / 100.0
    pile = tick.stockpiles.get(crusher.stockpile_id) if crusher.stockpile_id is not None else None
    if pile is not None and not pile.live and pile.status == StockpileStatus.FULL:
        rate_tph = min(rate_tph, max(pile.reclaim_rate_tph, 0.0))
    return rate_tph


def ask_dispatcher(tick: Tick, truck: TruckState) -> Assignment | None:
    if tick.snapshot is None:
        tick.snapshot = build_snapshot(tick)
    snapshot = tick.snapshot
    entry = snapshot.trucks[truck.id]  # the truck itself may have moved on since the snapshot was taken
    entry.status = str(truck.status)
    entry.node = truck.node
    entry.payload_t = truck.payload_t
    entry.material = truck.material if truck.payload_t > EPS else None
    entry.fuel_pct = 100.0 * truck.fuel_l / truck.fuel_tank_l if truck.fuel_tank_l else 0.0
    assignment = tick.dispatcher(snapshot, truck.id) if tick.dispatcher else None
    if assignment is None:
        return None
    reason = _rejection(tick, truck, assignment)
    if reason:
        tick.emit("dispatch_rejected", "truck", truck.id, reason=reason, assignment=repr(assignment))
        return None
    snapshot.record(truck.id, assignment)
    return assignment


def _rejection(tick: Tick, truck: TruckState, assignment: Assignment) -> str | None:
    """Why an assignment cannot be followed (None when it can)."""
    dest = tick.destination(assignment.destination_kind, assignment.destination_id)
    if assignment.destination_kind not in ("crusher", "dump") or dest is None or dest.live:
        return "unknown destination"
    accepts = MaterialKind.ORE if assignment.destination_kind == "crusher" else MaterialKind.WASTE
    if truck.payload_t > EPS:
        material = truck.material
    else:
        loader = tick.loaders.get(assignment.loader_id) if assignment.loader_id is not None else None
        if loader is None or not loader_available(tick, loader):
            return "loader unavailable"
        material = tick.zones[loader.zone_id].material
    if material != accepts:
        return f"{assignment.destination_kind} does not take {material}"
    return None
