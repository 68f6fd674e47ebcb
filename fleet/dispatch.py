"""Truck dispatching: plain data in, assignments out.

A simulator (ours, or any other) builds a `DispatchSnapshot` of the site and asks a `Dispatcher` where a
truck goes next. A dispatcher is any callable `(snapshot, truck_id) -> Assignment | None`; it never sees the
engine's classes, so every strategy can be written and tested on hand-made snapshots. Strategies are picked by
name from `STRATEGIES` / `get_dispatcher()` (the values of the site's `dispatch_strategy` choice). No Django.
See docs/dispatch.md for the interface, the strategies and the LP.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array

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


# Time to serve: what SPTF and the optimiser's real-time assignment rank by ---------------------------------


def loader_service_s(loader: LoaderSnapshot, payload_t: float) -> float:
    """Seconds under the loader: spot, then whole bucket passes (a 227 t truck takes 4 passes of 60 t)."""
    passes = max(1, math.ceil(payload_t / loader.bucket_t - 1e-9)) if loader.bucket_t > 0 else 1
    pass_s = loader.bucket_t / loader.dig_rate_tph * 3600.0 if loader.dig_rate_tph > 0 else UNREACHABLE_S
    return loader.spot_s + passes * pass_s


def loader_ready_in_s(loader: LoaderSnapshot, payload_t: float) -> float:
    """Seconds until the loader could start on one more truck: the trucks at the face, then those on their way
    (each counted as a truck like this one, since their arrival times are not known)."""
    on_the_way = max(loader.assigned_trucks - loader.queue_length, 0)
    return loader.free_in_s + on_the_way * loader_service_s(loader, payload_t)


def destination_ready_in_s(dest: DestinationSnapshot, payload_t: float) -> float:
    """Seconds until a destination could take one more load: the tip queue, and for a rate-limited crusher the
    time to crush what the trucks already assigned bring beyond the room in its bin."""
    if not dest.in_service:
        return UNREACHABLE_S
    tip_wait_s = dest.queue_length * dest.tip_s / max(dest.tip_points, 1)
    if dest.capacity_tph <= 0:
        return tip_wait_s
    backlog_t = dest.assigned_trucks * payload_t + payload_t - dest.room_t
    return max(tip_wait_s, backlog_t / dest.capacity_tph * 3600.0)


def _usable_loaders(snapshot: DispatchSnapshot) -> list[LoaderSnapshot]:
    materials = {d.material for d in snapshot.destinations}
    return [
        loader
        for loader in snapshot.loaders.values()
        if loader.available and loader.remaining_t > 0 and loader.material in materials
    ]


def _destination_by_time(
    snapshot: DispatchSnapshot,
    material: str,
    from_node: str,
    payload_t: float,
    after_s: float = 0.0,
    bias_s: Mapping[tuple[str, int], float] | None = None,
) -> DestinationSnapshot | None:
    """The destination for this material where a load leaving from_node in after_s seconds is tipped
    soonest; one under backpressure (not accepting, out of service) only when no other takes it."""
    best: tuple[tuple, DestinationSnapshot] | None = None
    for dest in snapshot.destinations:
        if dest.material != material:
            continue
        arrive_s = after_s + snapshot.haul_s(from_node, dest.node)
        ready_s = destination_ready_in_s(dest, payload_t)
        done_s = max(arrive_s, ready_s) + dest.tip_s
        if bias_s is not None:
            done_s += bias_s.get((dest.kind, dest.id), 0.0)
        key = (not (dest.accepting and dest.in_service), done_s, dest.kind, dest.id)
        if best is None or key < best[0]:
            best = (key, dest)
    return None if best is None else best[1]


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


# The optimiser: target flows from a linear programme, then real-time assignment against them -------------

#: Share of a truck's hours the LP counts on for hauling: the rest goes to refuelling, spotting behind other
#: trucks, acceleration the travel estimates leave out. Measured cycles run ~10 % above the estimates.
TRUCK_EFFICIENCY = 0.90
REPLAN_EVERY_S = 3600.0  # re-solve at least hourly, so slow drifts (liner wear, depleting faces) are followed
CATCH_UP_LIMIT_S = 900.0  # a route behind its target is favoured by at most this much time-to-serve
SATURATED_SHARE = 0.97  # a planned flow this close to a unit's limit runs it flat out
# Queueing at a loader grows steeply as it nears full use (random arrivals): the LP charges a share of a
# tonne for each tonne dug beyond half its hour, rising by band, so it spreads trucks over loaders when that
# costs little and still runs a loader flat out when that is the only way to more tonnes.
LOADER_FREE_SHARE = 0.5
LOADER_BUSY_COST = ((0.75, 0.01), (0.9, 0.03), (1.0, 0.08))  # (up to share of the hour, cost per tonne)


@dataclass(frozen=True, slots=True)
class ProductionTargets:
    """The mine plan's ore/waste split: bounds on ore's share of the tonnes moved (None = no bound).

    Hard in the LP while both materials can be moved; when every ore face or crusher is down (or every waste
    face or dump) the band is waived and the optimiser moves what it can rather than nothing."""

    ore_share_min: float | None = None
    ore_share_max: float | None = None


@dataclass(slots=True)
class FlowPlan:
    """The LP's answer: tonnes per hour on each loader → destination route for each truck class (by rated
    payload), and what it was solved for."""

    key: str
    solved_at_s: float
    #: (loader_id, destination kind, destination id, truck class rated payload_t) → t/h
    route_tph: dict[tuple[int, str, int, float], float]
    status: str = "optimal"
    #: Loaders ("id") and destinations ("kind:id") the plan runs at their limit: their own queues pace them,
    #: so the real-time rule does not hold trucks back from them to keep to the plan's schedule.
    saturated: set[str] = field(default_factory=set)

    def loader_tph(self, loader_id: int, payload_t: float | None = None) -> float:
        """Planned t/h out of a loader, for one truck class or (payload_t None) all."""
        return sum(
            tph
            for (lid, _, _, cls), tph in self.route_tph.items()
            if lid == loader_id and (payload_t is None or cls == payload_t)
        )

    def destination_tph(self, kind: str, dest_id: int) -> float:
        return sum(tph for (_, k, d, _), tph in self.route_tph.items() if k == kind and d == dest_id)

    def total_tph(self) -> float:
        return sum(self.route_tph.values())


def truck_class(truck: TruckSnapshot) -> float:
    """The class a truck is planned in: its rated payload to 0.1 t."""
    return round(truck.rated_payload_t, 1)


def _fleet(snapshot: DispatchSnapshot) -> list[TruckSnapshot]:
    return [t for t in snapshot.trucks.values() if t.status not in DOWN_STATUSES]


def plan_key(snapshot: DispatchSnapshot) -> str:
    """What the LP depends on, coarsely: the fleet in service by class, the loaders that can dig and the
    destinations in service with their intake rate in 5 % steps. The plan is recomputed when this changes."""
    classes: dict[float, int] = {}
    for truck in _fleet(snapshot):
        classes[truck_class(truck)] = classes.get(truck_class(truck), 0) + 1
    loaders = sorted((ld.id, ld.material) for ld in _usable_loaders(snapshot))
    dests = sorted(
        (d.kind, d.id, round(math.log(d.capacity_tph) / math.log(1.05)) if d.capacity_tph > 0 else 0)
        for d in snapshot.destinations
        if d.in_service
    )
    return json.dumps([sorted(classes.items()), loaders, dests])


def solve_flows(
    snapshot: DispatchSnapshot,
    targets: ProductionTargets | None = None,
    truck_efficiency: float = TRUCK_EFFICIENCY,
) -> FlowPlan:
    """Maximise tonnes per hour over loader → destination routes, per truck class (HiGHS).

    Variables, for each truck class c (rated payload P_c): loaded flow x[l,d,c] (t/h) on each route whose
    destination takes the loader's material, and empty flow y[d,l,c] (t/h of truck capacity) back from each
    destination to each loader. Constraints: flow in = flow out at every loader and destination, per class
    (trucks circulate); the seconds a loader spends on each class (spot + whole passes) fit in its hour; a
    destination takes at most its intake rate (a crusher behind a full stockpile only the reclaim rate) and
    what its tip points can turn; each class's truck-seconds (load, haul, tip, empty return) fit in its trucks
    in service x TRUCK_EFFICIENCY; ore's share within the plan's band (waived when only one material has
    a route: with every crusher down the waste is still moved). Objective: tonnes, less LOADER_BUSY_COST for
    the queueing at a loader past half its hour, less a tiny cost per truck-second so shorter cycles win ties.
    """
    targets = targets or ProductionTargets()
    key = plan_key(snapshot)
    counts: dict[float, int] = {}
    for truck in _fleet(snapshot):
        counts[truck_class(truck)] = counts.get(truck_class(truck), 0) + 1
    classes = sorted(counts)
    loaders = sorted(_usable_loaders(snapshot), key=lambda ld: ld.id)
    dests = sorted((d for d in snapshot.destinations if d.in_service), key=lambda d: (d.kind, d.id))
    if not classes or not loaders or not dests:
        return FlowPlan(key, snapshot.clock_s, {}, status="nothing to plan")
    pairs = [
        (i, j)
        for i, ld in enumerate(loaders)
        for j, d in enumerate(dests)
        if d.material == ld.material and snapshot.haul_s(ld.node, d.node) < UNREACHABLE_S
    ]
    back = [
        (j, i)
        for j, d in enumerate(dests)
        for i, ld in enumerate(loaders)
        if snapshot.travel_s(d.node, ld.node) < UNREACHABLE_S
    ]
    if not pairs:
        return FlowPlan(key, snapshot.clock_s, {}, status="no route")
    routes = [(i, j, c) for c in range(len(classes)) for i, j in pairs]
    returns = [(j, i, c) for c in range(len(classes)) for j, i in back]
    n_x, n_y = len(routes), len(returns)
    n_busy = len(loaders) * len(LOADER_BUSY_COST)
    n_var = n_x + n_y + n_busy  # + each loader's busy seconds per hour in the costed bands
    service_s = [[loader_service_s(ld, p) for p in classes] for ld in loaders]
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    b_ub: list[float] = []

    def ub_row(entries: list[tuple[int, float]], bound: float) -> None:
        for col, val in entries:
            rows.append(len(b_ub))
            cols.append(col)
            vals.append(val)
        b_ub.append(bound)

    truck_s = np.zeros(n_var)  # truck-seconds per t/h of each flow
    for k, (i, j, c) in enumerate(routes):
        ld, d = loaders[i], dests[j]
        truck_s[k] = (service_s[i][c] + snapshot.haul_s(ld.node, d.node) + d.tip_s) / classes[c]
    for k, (j, i, c) in enumerate(returns):
        truck_s[n_x + k] = snapshot.travel_s(dests[j].node, loaders[i].node) / classes[c]
    for c, payload_t in enumerate(classes):
        entries = [(k, truck_s[k]) for k, r in enumerate(routes) if r[2] == c]
        entries += [(n_x + k, truck_s[n_x + k]) for k, r in enumerate(returns) if r[2] == c]
        ub_row(entries, counts[payload_t] * 3600.0 * truck_efficiency)
    busy_cost = np.zeros(n_var)
    upper = [math.inf] * n_var
    for i in range(len(loaders)):  # loader-seconds per hour: all of them, and those beyond the free band
        entries = [(k, service_s[i][c] / classes[c]) for k, (li, _, c) in enumerate(routes) if li == i]
        ub_row(entries, 3600.0)
        tonnes_per_s = statistics.fmean(classes[c] / service_s[i][c] for c in range(len(classes)))
        bands = []
        low = LOADER_FREE_SHARE
        for b, (high, cost) in enumerate(LOADER_BUSY_COST):
            col = n_x + n_y + i * len(LOADER_BUSY_COST) + b
            upper[col] = (high - low) * 3600.0
            busy_cost[col] = cost * tonnes_per_s
            bands.append((col, -1.0))
            low = high
        ub_row(entries + bands, LOADER_FREE_SHARE * 3600.0)
    dest_limit_tph = []
    for j, d in enumerate(dests):
        limit = d.capacity_tph if d.capacity_tph > 0 else math.inf
        dest_limit_tph.append(limit)
        if math.isfinite(limit):
            ub_row([(k, 1.0) for k, (_, dj, _) in enumerate(routes) if dj == j], limit)
        if d.tip_s > 0:  # tip-point seconds per hour
            tip_s = d.tip_s / max(d.tip_points, 1)
            ub_row([(k, tip_s / classes[c]) for k, (_, dj, c) in enumerate(routes) if dj == j], 3600.0)
    ore = np.array([1.0 if loaders[i].material == "ore" else 0.0 for i, _, _ in routes])
    both = 0 < ore.sum() < len(ore)  # a band needs routes for both; with one, move what can be moved
    if both and targets.ore_share_min is not None:  # share_min x total - ore <= 0
        ub_row([(k, targets.ore_share_min - ore[k]) for k in range(n_x)], 0.0)
    if both and targets.ore_share_max is not None:  # ore - share_max x total <= 0
        ub_row([(k, ore[k] - targets.ore_share_max) for k in range(n_x)], 0.0)
    eq_rows: list[int] = []
    eq_cols: list[int] = []
    eq_vals: list[float] = []
    n_nodes = len(loaders) + len(dests)
    for k, (i, j, c) in enumerate(routes):  # out of loader i, into destination j
        eq_rows += [c * n_nodes + i, c * n_nodes + len(loaders) + j]
        eq_cols += [k, k]
        eq_vals += [1.0, 1.0]
    for k, (j, i, c) in enumerate(returns):  # into loader i, out of destination j
        eq_rows += [c * n_nodes + i, c * n_nodes + len(loaders) + j]
        eq_cols += [n_x + k, n_x + k]
        eq_vals += [-1.0, -1.0]
    n_eq = n_nodes * len(classes)
    objective = 1e-6 * truck_s + busy_cost  # minimise: - tonnes + queueing at busy loaders + truck time
    objective[:n_x] -= 1.0
    result = linprog(
        objective,
        A_ub=coo_array((vals, (rows, cols)), shape=(len(b_ub), n_var)).tocsr(),
        b_ub=b_ub,
        A_eq=coo_array((eq_vals, (eq_rows, eq_cols)), shape=(n_eq, n_var)).tocsr(),
        b_eq=np.zeros(n_eq),
        bounds=[(0.0, None if math.isinf(u) else u) for u in upper],
        method="highs",
    )
    if result.status != 0:
        return FlowPlan(key, snapshot.clock_s, {}, status=result.message)
    plan = FlowPlan(key, snapshot.clock_s, {})
    loader_busy_s = [0.0] * len(loaders)
    for k, (i, j, c) in enumerate(routes):
        if result.x[k] > 1e-6:
            plan.route_tph[(loaders[i].id, dests[j].kind, dests[j].id, classes[c])] = float(result.x[k])
            loader_busy_s[i] += result.x[k] * service_s[i][c] / classes[c]
    for i, ld in enumerate(loaders):
        if loader_busy_s[i] >= SATURATED_SHARE * 3600.0:
            plan.saturated.add(str(ld.id))
    for d, limit in zip(dests, dest_limit_tph, strict=True):
        if plan.destination_tph(d.kind, d.id) >= SATURATED_SHARE * limit:
            plan.saturated.add(f"{d.kind}:{d.id}")
    return plan


class Optimiser:
    """Target flows from the LP, and each truck to the route furthest behind its target.

    Stateful but small: the cached plan and, per loader and destination, the time its next truck is due on
    the plan's schedule. `to_dict()` is JSON-safe; `Optimiser(state=saved)` continues where it stopped, and
    with no state the first call re-solves (a few milliseconds), so a caller that cannot keep it loses little.

    A truck is sent where it would be served soonest (travel, the work ahead of it), shifted by how far that
    route is ahead of or behind its schedule: a loader that has had its planned share of trucks lately waits
    for the next, one that is behind is favoured by up to CATCH_UP_LIMIT_S. Loaders with no planned flow are
    used only when no planned one can take the truck.
    """

    def __init__(
        self,
        targets: ProductionTargets | None = None,
        state: Mapping[str, Any] | None = None,
        truck_efficiency: float = TRUCK_EFFICIENCY,
    ) -> None:
        self.targets = targets or ProductionTargets()
        self.truck_efficiency = truck_efficiency
        self.plan: FlowPlan | None = None
        self.loader_due_s: dict[int, float] = {}
        self.destination_due_s: dict[tuple[str, int], float] = {}
        self.solves = 0
        if state:
            self._load(state)

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan
        return {
            "plan": None
            if plan is None
            else {
                "key": plan.key,
                "solved_at_s": plan.solved_at_s,
                "status": plan.status,
                "route_tph": [[*route, tph] for route, tph in plan.route_tph.items()],
                "saturated": sorted(plan.saturated),
            },
            "loader_due_s": {str(k): v for k, v in self.loader_due_s.items()},
            "destination_due_s": {f"{k}:{d}": v for (k, d), v in self.destination_due_s.items()},
        }

    def _load(self, state: Mapping[str, Any]) -> None:
        plan = state.get("plan")
        if plan:
            self.plan = FlowPlan(
                plan["key"],
                plan["solved_at_s"],
                {(int(lid), kind, int(did), cls): tph for lid, kind, did, cls, tph in plan["route_tph"]},
                plan.get("status", "optimal"),
                set(plan.get("saturated", ())),
            )
        self.loader_due_s = {int(k): v for k, v in state.get("loader_due_s", {}).items()}
        self.destination_due_s = {
            (k.partition(":")[0], int(k.partition(":")[2])): v
            for k, v in state.get("destination_due_s", {}).items()
        }

    def plan_for(self, snapshot: DispatchSnapshot) -> FlowPlan:
        """The cached plan, re-solved when the fleet, loaders or destinations changed or it is an hour old."""
        plan = self.plan
        if (
            plan is None
            or plan.key != plan_key(snapshot)
            or snapshot.clock_s - plan.solved_at_s >= REPLAN_EVERY_S
            or snapshot.clock_s < plan.solved_at_s
        ):
            plan = self.plan = solve_flows(snapshot, self.targets, self.truck_efficiency)
            self.solves += 1
        return plan

    def __call__(self, snapshot: DispatchSnapshot, truck_id: int) -> Assignment | None:
        plan = self.plan_for(snapshot)
        if not plan.route_tph:
            return sptf(snapshot, truck_id)
        truck = snapshot.trucks[truck_id]
        now = snapshot.clock_s
        if truck.payload_t > 0:
            dest = self._destination(
                snapshot, plan, truck.material or "ore", truck.node, truck.payload_t, 0.0
            )
            return None if dest is None else Assignment(None, dest.kind, dest.id)
        payload_t = truck.rated_payload_t
        cls = truck_class(truck)
        best: tuple[tuple, LoaderSnapshot, float] | None = None
        for loader in _usable_loaders(snapshot):
            class_tph = plan.loader_tph(loader.id, cls)
            rate_tph = plan.loader_tph(loader.id)
            arrive_s = snapshot.travel_s(truck.node, loader.node)
            loaded_s = max(arrive_s, loader_ready_in_s(loader, payload_t)) + loader_service_s(
                loader, payload_t
            )
            ahead_s = 0.0
            if str(loader.id) not in plan.saturated:
                ahead_s = self._ahead_s(self.loader_due_s, loader.id, rate_tph, payload_t, now)
            # A class the plan leaves off this loader would take loader time from the trucks planned on it:
            # only when it is saturated does that cost tonnes, and only then is the loader a last resort.
            off_plan = class_tph <= 0 and (rate_tph <= 0 or str(loader.id) in plan.saturated)
            key = (off_plan, loaded_s + ahead_s, loader.id)
            if best is None or key < best[0]:
                best = (key, loader, loaded_s)
        if best is None:
            return None
        _, loader, loaded_s = best
        dest = self._destination(snapshot, plan, loader.material, loader.node, payload_t, loaded_s)
        if dest is None:
            return None
        self._book(self.loader_due_s, loader.id, plan.loader_tph(loader.id), payload_t, now)
        return Assignment(loader.id, dest.kind, dest.id)

    def _destination(
        self,
        snapshot: DispatchSnapshot,
        plan: FlowPlan,
        material: str,
        from_node: str,
        payload_t: float,
        after_s: float,
    ) -> DestinationSnapshot | None:
        now = snapshot.clock_s
        bias_s: dict[tuple[str, int], float] = {}
        for dest in snapshot.destinations:
            if dest.material == material:
                rate_tph = plan.destination_tph(dest.kind, dest.id)
                unit = (dest.kind, dest.id)
                if rate_tph <= 0:
                    bias_s[unit] = UNREACHABLE_S / 10
                elif f"{dest.kind}:{dest.id}" not in plan.saturated:
                    bias_s[unit] = self._ahead_s(self.destination_due_s, unit, rate_tph, payload_t, now)
        dest = _destination_by_time(snapshot, material, from_node, payload_t, after_s, bias_s)
        if dest is not None:
            rate_tph = plan.destination_tph(dest.kind, dest.id)
            self._book(self.destination_due_s, (dest.kind, dest.id), rate_tph, payload_t, now)
        return dest

    @staticmethod
    def _ahead_s(
        due_s: Mapping[Any, float], unit: Any, rate_tph: float, payload_t: float, now: float
    ) -> float:
        """How far the unit is ahead of its schedule (negative: behind, favoured up to CATCH_UP_LIMIT_S)."""
        if rate_tph <= 0:
            return 0.0
        return max(due_s.get(unit, now) - now, -CATCH_UP_LIMIT_S)

    @staticmethod
    def _book(due_s: dict[Any, float], unit: Any, rate_tph: float, payload_t: float, now: float) -> None:
        """One truck more on the unit's schedule: its next truck is due one planned interval later."""
        if rate_tph <= 0:
            return
        start_s = max(due_s.get(unit, now), now - CATCH_UP_LIMIT_S)
        due_s[unit] = start_s + payload_t / rate_tph * 3600.0


# The registry: one name per value of the site's dispatch_strategy choice ----------------------------------


def _stateless(dispatcher: Dispatcher) -> Callable[..., Dispatcher]:
    def factory(**_options: Any) -> Dispatcher:
        return dispatcher

    return factory


#: name → factory(**options) -> Dispatcher. Options the optimiser takes: targets (ProductionTargets),
#: state (a saved Optimiser.to_dict()); the simple rules ignore options.
STRATEGIES: dict[str, Callable[..., Dispatcher]] = {
    "fixed": _stateless(fixed),
    "shortest_queue": _stateless(shortest_queue),
    "sptf": _stateless(sptf),
    "optimiser": Optimiser,
}


def get_dispatcher(name: str, **options: Any) -> Dispatcher:
    """The dispatcher for a strategy name (fixed, shortest_queue, sptf, optimiser)."""
    try:
        factory = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown dispatch strategy {name!r}; choose from {', '.join(STRATEGIES)}") from None
    return factory(**options)
