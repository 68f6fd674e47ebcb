"""The simple rules: fixed, shortest queue and SPTF (shortest processing time first).

Each decides from the snapshot alone and keeps nothing between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fleet.dispatch.interface import (
    Assignment,
    DestinationSnapshot,
    DispatchSnapshot,
    LoaderSnapshot,
    TruckSnapshot,
)
from fleet.dispatch.timing import _destination_by_time, _usable_loaders, loader_ready_in_s, loader_service_s


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


def sptf(snapshot: DispatchSnapshot, truck_id: int) -> Assignment | None:
    """Shortest processing time first: the loader where this truck would be loaded soonest (travel there, the
    work ahead of it, its own loading), then the destination where the load would be tipped soonest."""
    truck = snapshot.trucks[truck_id]
    payload_t = truck.rated_payload_t
    if truck.payload_t > 0:
        dest = _destination_by_time(snapshot, truck.material or "ore", truck.node, truck.payload_t)
        return None if dest is None else Assignment(None, dest.kind, dest.id)
    best: tuple[float, int, LoaderSnapshot] | None = None
    for loader in _usable_loaders(snapshot):
        arrive_s = snapshot.travel_s(truck.node, loader.node)
        loaded_s = max(arrive_s, loader_ready_in_s(loader, payload_t)) + loader_service_s(loader, payload_t)
        if best is None or (loaded_s, loader.id) < best[:2]:
            best = (loaded_s, loader.id, loader)
    if best is None:
        return None
    loaded_s, _, loader = best
    dest = _destination_by_time(snapshot, loader.material, loader.node, payload_t, after_s=loaded_s)
    return None if dest is None else Assignment(loader.id, dest.kind, dest.id)
