"""Truck dispatching: plain data in, assignments out.

The engine builds a `DispatchSnapshot` from its state and asks a `Dispatcher` where a truck goes next. A
dispatcher is any callable `(snapshot, truck_id) -> Assignment | None`; it never sees the engine's classes,
so an optimiser (LP, later) can be written and tested on hand-made snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

UNREACHABLE_S = 1e9


@dataclass(slots=True)
class TruckSnapshot:
    id: int
    name: str
    status: str
    node: str  # the road-network node where the truck is now
    lat: float
    lon: float
    payload_t: float
    rated_payload_t: float
    material: str | None = None  # of the load on the tray, None when empty
    last_loader_id: int | None = None
    fuel_pct: float = 100.0


@dataclass(slots=True)
class LoaderSnapshot:
    id: int
    name: str
    node: str
    zone_id: int
    material: str
    grade_pct: float
    dig_rate_tph: float
    bucket_t: float
    remaining_t: float  # left in its zone
    available: bool  # in service, not relocating, zone not depleted
    queue_length: int = 0  # waiting at the loader plus the one being loaded
    assigned_trucks: int = 0  # queue_length plus trucks on their way


@dataclass(slots=True)
class DestinationSnapshot:
    kind: str  # "crusher" or "dump"
    id: int
    name: str
    node: str
    material: str  # what it accepts
    capacity_tph: float  # crusher rated throughput now; 0 for a dump (no limit)
    room_t: float  # room left in the feed bin (crusher) or on the dump
    accepting: bool  # False under backpressure: stopped crusher, full stockpile or bin
    queue_length: int = 0
    assigned_trucks: int = 0


@dataclass(slots=True)
class DispatchSnapshot:
    clock_s: float
    trucks: dict[int, TruckSnapshot]
    loaders: dict[int, LoaderSnapshot]
    destinations: list[DestinationSnapshot]
    travel_time_s: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def travel_s(self, from_node: str, to_node: str) -> float:
        """Estimated travel seconds; 0 at the same node, UNREACHABLE_S when unknown."""
        if from_node == to_node:
            return 0.0
        try:
            return self.travel_time_s[(from_node, to_node)]
        except KeyError:
            return UNREACHABLE_S

    def destination(self, kind: str, unit_id: int) -> DestinationSnapshot | None:
        for dest in self.destinations:
            if dest.kind == kind and dest.id == unit_id:
                return dest
        return None

    def record(self, truck_id: int, assignment: Assignment) -> None:
        """Count an assignment, so later calls in the same tick see the truck on its way."""
        truck = self.trucks.get(truck_id)
        if assignment.loader_id is not None and assignment.loader_id in self.loaders:
            self.loaders[assignment.loader_id].assigned_trucks += 1
            if truck is not None:
                truck.last_loader_id = assignment.loader_id
        dest = self.destination(assignment.destination_kind, assignment.destination_id)
        if dest is not None:
            dest.assigned_trucks += 1


@dataclass(frozen=True, slots=True)
class Assignment:
    """Go to loader_id (None when the truck is already loaded), then dump at the destination."""

    loader_id: int | None
    destination_kind: str
    destination_id: int


class Dispatcher(Protocol):
    def __call__(self, snapshot: DispatchSnapshot, truck_id: int) -> Assignment | None: ...


def best_destination(snapshot: DispatchSnapshot, material: str, from_node: str) -> DestinationSnapshot | None:
    """The accepting destination for this material with the fewest trucks assigned, then the nearest.

    When none accepts (every crusher stopped or backed up) the least-loaded one is still returned: the truck
    queues there, which is how backpressure reaches the pit.
    """
    candidates = [d for d in snapshot.destinations if d.material == material]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda d: (
            not d.accepting,
            d.assigned_trucks,
            snapshot.travel_s(from_node, d.node),
            d.kind,
            d.id,
        ),
    )


def _assign_loaded(snapshot: DispatchSnapshot, truck: TruckSnapshot) -> Assignment | None:
    dest = best_destination(snapshot, truck.material or "ore", truck.node)
    return None if dest is None else Assignment(None, dest.kind, dest.id)


def _assign_to(snapshot: DispatchSnapshot, truck: TruckSnapshot, loader: LoaderSnapshot) -> Assignment | None:
    dest = best_destination(snapshot, loader.material, loader.node)
    return None if dest is None else Assignment(loader.id, dest.kind, dest.id)


def shortest_queue(snapshot: DispatchSnapshot, truck_id: int) -> Assignment | None:
    """Send the truck to the available loader with the fewest trucks queued or on their way (nearest first
    on a tie), then to the destination for that loader's material with the shortest queue."""
    truck = snapshot.trucks[truck_id]
    if truck.payload_t > 0:
        return _assign_loaded(snapshot, truck)
    candidates = [
        loader
        for loader in snapshot.loaders.values()
        if loader.available
        and loader.remaining_t > 0
        and any(d.material == loader.material for d in snapshot.destinations)
    ]
    if not candidates:
        return None
    loader = min(
        candidates,
        key=lambda ld: (ld.assigned_trucks, snapshot.travel_s(truck.node, ld.node), ld.id),
    )
    return _assign_to(snapshot, truck, loader)


def fixed(snapshot: DispatchSnapshot, truck_id: int) -> Assignment | None:
    """Keep the truck on the loader it last worked with; the first time (or when that loader is down) fall
    back to shortest_queue, which then becomes its loader."""
    truck = snapshot.trucks[truck_id]
    if truck.payload_t > 0:
        return _assign_loaded(snapshot, truck)
    loader = snapshot.loaders.get(truck.last_loader_id) if truck.last_loader_id is not None else None
    if loader is not None and loader.available and loader.remaining_t > 0:
        return _assign_to(snapshot, truck, loader)
    return shortest_queue(snapshot, truck_id)


def fixed_to(loader_by_truck: Mapping[int, int]) -> Callable[[DispatchSnapshot, int], Assignment | None]:
    """A dispatcher that pairs each listed truck with one loader; a truck whose loader is unavailable waits,
    an unlisted truck is dispatched by shortest_queue."""

    def dispatch(snapshot: DispatchSnapshot, truck_id: int) -> Assignment | None:
        truck = snapshot.trucks[truck_id]
        if truck.payload_t > 0:
            return _assign_loaded(snapshot, truck)
        if truck_id not in loader_by_truck:
            return shortest_queue(snapshot, truck_id)
        loader = snapshot.loaders.get(loader_by_truck[truck_id])
        if loader is None or not loader.available or loader.remaining_t <= 0:
            return None
        return _assign_to(snapshot, truck, loader)

    return dispatch
