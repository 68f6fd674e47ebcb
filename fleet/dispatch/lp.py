"""The optimiser's upper stage: target flows on loader → destination routes from a linear programme (HiGHS
through scipy), per truck class. The real-time assignment against them is in fleet.dispatch.optimiser."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_array

from fleet.dispatch.interface import DOWN_STATUSES, UNREACHABLE_S, DispatchSnapshot, TruckSnapshot
from fleet.dispatch.timing import _usable_loaders, loader_service_s

#: Share of a truck's hours the LP counts on for hauling: the rest goes to refuelling, spotting behind other
#: trucks, acceleration the travel estimates leave out. Measured cycles run ~10 % above the estimates.
TRUCK_EFFICIENCY = 0.90
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
