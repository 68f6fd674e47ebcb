"""The haul cycle: assignment → travel empty → queue → load → haul → queue → dump → return.

Each truck spends its share of a step working through the phases of its cycle in order, carrying leftover
time into the next phase. The phases live with what they happen at: the road (motion.py), the loader
(loader.py), the crusher or dump (tipping.py) and the fuel bay (truck.py); a waiting truck asks the
dispatcher (dispatching.py) where to go next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleet.sim.dispatching import ask_dispatcher
from fleet.sim.loader import load, loader_available, serve_loader
from fleet.sim.motion import start_route, travel
from fleet.sim.schema import LoaderStatus, TruckStatus
from fleet.sim.state import TruckState, node_name
from fleet.sim.tipping import dump, serve_tip
from fleet.sim.truck import (
    EPS,
    IDLE_LOAD_FACTOR,
    nearest_fuel_bay,
    needs_fuel,
    refuel,
    run_engine,
    start_refuelling,
)

if TYPE_CHECKING:
    from fleet.sim.context import Tick


def _arrive(tick: Tick, truck: TruckState) -> None:
    truck.node = truck.target_node
    truck.route = []
    truck.route_index = 0
    truck.road_pos_m = 0.0
    truck.speed_kmh = 0.0
    kind, _, unit_id = truck.node.partition(":")
    if kind == "fuel":
        start_refuelling(tick, truck, unit_id)
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


def _wait(tick: Tick, truck: TruckState, budget_s: float) -> float:
    """Decide the next trip of a truck standing at a node; returns the budget left (0 if it stays)."""
    if truck.payload_t <= EPS and needs_fuel(truck):
        bay = nearest_fuel_bay(tick, truck)
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
            budget_s = travel(tick, truck, budget_s)
            if truck.route_index >= len(truck.route):  # at the end of the route (or there already)
                _arrive(tick, truck)
        elif status == TruckStatus.WAITING:
            budget_s = _wait(tick, truck, budget_s)
        elif status == TruckStatus.LOADING:
            budget_s = load(tick, truck, budget_s)
        elif status == TruckStatus.DUMPING:
            budget_s = dump(tick, truck, budget_s)
        elif status == TruckStatus.REFUELLING:
            budget_s = refuel(tick, truck, budget_s)
        elif status == TruckStatus.QUEUED_AT_LOADER or status == TruckStatus.QUEUED_AT_DUMP:
            run_engine(truck, budget_s, IDLE_LOAD_FACTOR)
            truck.speed_kmh = 0.0
            return
        else:  # maintenance, broken down: engine off
            truck.load_factor = 0.0
            truck.speed_kmh = 0.0
            return


#: What a truck's status says while it stands in a loader's or tip point's queue or service.
IN_SERVICE = frozenset(
    (TruckStatus.QUEUED_AT_LOADER, TruckStatus.LOADING, TruckStatus.QUEUED_AT_DUMP, TruckStatus.DUMPING)
)


def detach_trucks(tick: Tick, truck_ids: set[int]) -> None:
    """Take trucks out of every queue and service (breakdown, maintenance, or now fed by live telemetry).

    A truck whose status still says it is queued, loading or dumping waits for the dispatcher instead (its
    load stays on), so a live truck handed back to the simulator never finishes a service it has left.
    """
    for truck_id in truck_ids:
        truck = tick.trucks[truck_id]
        if truck.status in IN_SERVICE:
            truck.status = TruckStatus.WAITING
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
