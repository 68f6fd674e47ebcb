"""The engine's side of dispatch (fleet/dispatch.py): the snapshot of the site a dispatcher decides on, and
its answers checked before a truck follows them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fleet.dispatch import Assignment, DestinationSnapshot, DispatchSnapshot, LoaderSnapshot, TruckSnapshot
from fleet.sim.crusher import DOWN as CRUSHER_DOWN
from fleet.sim.crusher import crusher_accepting, crusher_room_t
from fleet.sim.loader import PAYLOAD_MEAN_SHARE, SPOT_AT_LOADER_S, loader_available
from fleet.sim.schema import MaterialKind, StockpileStatus, TruckStatus
from fleet.sim.state import CrusherState, LoaderState, TruckState, node_name
from fleet.sim.tipping import DUMP_AT_CRUSHER_S, DUMP_AT_WASTE_S
from fleet.sim.truck import DOWN, EPS

if TYPE_CHECKING:
    from fleet.sim.context import Tick


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
