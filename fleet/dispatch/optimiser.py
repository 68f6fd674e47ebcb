"""The optimiser's lower stage: each truck to the route furthest behind the target flows of the LP
(fleet.dispatch.lp), with the plan and the schedule kept between ticks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleet.dispatch.interface import (
    UNREACHABLE_S,
    Assignment,
    DestinationSnapshot,
    DispatchSnapshot,
    LoaderSnapshot,
)
from fleet.dispatch.lp import (
    TRUCK_EFFICIENCY,
    FlowPlan,
    ProductionTargets,
    plan_key,
    solve_flows,
    truck_class,
)
from fleet.dispatch.rules import sptf
from fleet.dispatch.timing import _destination_by_time, _usable_loaders, loader_ready_in_s, loader_service_s

REPLAN_EVERY_S = 3600.0  # re-solve at least hourly, so slow drifts (liner wear, depleting faces) are followed
CATCH_UP_LIMIT_S = 900.0  # a route behind its target is favoured by at most this much time-to-serve


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
