"""Loaders at the face: their queue of trucks, loading pass by pass, and moving on when a zone is dug out."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fleet.sim.motion import start_route
from fleet.sim.schema import LoaderStatus, TruckStatus, ZoneStatus
from fleet.sim.state import LoaderState, TruckState, node_name
from fleet.sim.truck import EPS, IDLE_LOAD_FACTOR, run_engine

if TYPE_CHECKING:
    from fleet.sim.context import Tick

SPOT_AT_LOADER_S = 40.0  # spot time at the shovel, 0.6-0.8 min (Caterpillar Performance Handbook)
# Payload per load as a share of rated: the 10/10/20 rule (Caterpillar payload policy) allows at most 10 % of
# loads above 110 % and none above 120 %. Mean 0.99, sd 0.045 puts ~1.5 % above 110 % and none above 119 %.
PAYLOAD_MEAN_SHARE = 0.99
PAYLOAD_SD_SHARE = 0.045
PAYLOAD_MIN_SHARE = 0.75
PAYLOAD_MAX_SHARE = 1.19
LOADER_RELOCATION_S = 2 * 3600.0  # walking a shovel to a new face and setting up takes a couple of hours


def loader_available(tick: Tick, loader: LoaderState) -> bool:
    if loader.live or loader.status in (LoaderStatus.MAINTENANCE, LoaderStatus.BROKEN_DOWN):
        return False
    if loader.relocating_left_s > 0:
        return False
    zone = tick.zones.get(loader.zone_id)
    return zone is not None and zone.status == ZoneStatus.ACTIVE and zone.remaining_t > EPS


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


def load(tick: Tick, truck: TruckState, budget_s: float) -> float:
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
