"""The decision interface: the snapshot a dispatcher is given, the `Assignment` it answers, the `Dispatcher`
protocol. Plain data in the mine's words, so a dispatcher never sees the engine's classes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

UNREACHABLE_S = 1e9
SPOT_AT_LOADER_S = 40.0  # default spot time under the shovel, 0.6-0.8 min (Caterpillar Performance Handbook)
TIP_S = 60.0  # default manoeuvre and tip, about a minute
#: Truck statuses that take a truck out of the fleet the dispatcher can plan with.
DOWN_STATUSES = frozenset({"broken_down", "maintenance"})


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
    spot_s: float = SPOT_AT_LOADER_S  # positioning a truck under the bucket, before the first pass
    free_in_s: float = 0.0  # until it has loaded the trucks already at the face (queue_length)


@dataclass(slots=True)
class DestinationSnapshot:
    kind: str  # "crusher" or "dump"
    id: int
    name: str
    node: str
    material: str  # what it accepts
    # Sustained intake now: rated x efficiency, or the reclaim rate behind a full stockpile; 0 = no limit
    capacity_tph: float
    room_t: float  # room left in the feed bin (crusher) or on the dump
    accepting: bool  # False under backpressure: stopped crusher, full stockpile or bin
    queue_length: int = 0  # waiting plus tipping
    assigned_trucks: int = 0  # queue_length plus trucks on their way
    tip_s: float = TIP_S
    tip_points: int = 1  # trucks that can tip side by side
    in_service: bool = True  # False while broken down, in maintenance or blocked: plan no flow to it


@dataclass(slots=True)
class DispatchSnapshot:
    clock_s: float
    trucks: dict[int, TruckSnapshot]
    loaders: dict[int, LoaderSnapshot]
    destinations: list[DestinationSnapshot]
    travel_time_s: Mapping[tuple[str, str], float] = field(default_factory=dict)  # empty trucks
    haul_time_s: Mapping[tuple[str, str], float] = field(default_factory=dict)  # loaded; falls back to empty

    def travel_s(self, from_node: str, to_node: str) -> float:
        """Estimated empty travel seconds; 0 at the same node, UNREACHABLE_S when unknown."""
        if from_node == to_node:
            return 0.0
        try:
            return self.travel_time_s[(from_node, to_node)]
        except KeyError:
            return UNREACHABLE_S

    def haul_s(self, from_node: str, to_node: str) -> float:
        """Estimated loaded travel seconds (slower up the ramps); the empty estimate when none is given."""
        if from_node == to_node:
            return 0.0
        try:
            return self.haul_time_s[(from_node, to_node)]
        except KeyError:
            return self.travel_s(from_node, to_node)

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
