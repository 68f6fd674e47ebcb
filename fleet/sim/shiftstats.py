"""Shift figures measured from the engine's own steps: tonnes, queue time, match factor, truck utilisation.

One definition shared by the dispatch benchmark (bench/bench_dispatch.py) and the what-if scenarios
(analytics/scenarios.py), so a scenario's "match factor" is the benchmark's. Pure: no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from fleet.sim.state import SiteState
from fleet.sim.step import StepResult

QUEUED = ("queued_at_loader", "queued_at_dump")
WORKING = ("returning", "loading", "hauling", "dumping")
DOWN = ("broken_down", "maintenance")


@dataclass(slots=True)
class ShiftTally:
    """Accumulates one run step by step; `figures()` turns the totals into the reported numbers."""

    tonnes_by_material: dict[str, float] = field(default_factory=lambda: {"ore": 0.0, "waste": 0.0})
    loads: int = 0
    truck_status_s: dict[str, float] = field(default_factory=dict)
    truck_s: float = 0.0
    loader_up_s: float = 0.0
    elapsed_s: float = 0.0

    def observe(self, state: SiteState, result: StepResult, dt_s: float) -> None:
        """Count what one step of dt_s seconds did (call after every step())."""
        for event in result.events:
            if event.kind == "dumped":
                material = event.data["material"]
                self.tonnes_by_material[material] = (
                    self.tonnes_by_material.get(material, 0.0) + event.data["payload_t"]
                )
            elif event.kind == "loaded":
                self.loads += 1
        for truck in state.trucks:
            status = str(truck.status)
            self.truck_status_s[status] = self.truck_status_s.get(status, 0.0) + dt_s
        self.truck_s += dt_s * len(state.trucks)
        self.loader_up_s += dt_s * sum(
            1 for ld in state.loaders if ld.status not in DOWN and ld.relocating_left_s <= 0
        )
        self.elapsed_s += dt_s

    def figures(self) -> dict[str, float]:
        """Tonnes tipped, ore tonnes, queue minutes per load, match factor and truck utilisation (NaN when
        nothing was loaded, so a mean over seeds shows that something is wrong rather than a zero)."""
        status_s = self.truck_status_s
        in_service_s = self.truck_s - sum(status_s.get(s, 0.0) for s in DOWN)
        queued_s = sum(status_s.get(s, 0.0) for s in QUEUED)
        loading_s = status_s.get("loading", 0.0)
        working_s = sum(status_s.get(s, 0.0) for s in WORKING)
        loads = self.loads
        shift_s = self.elapsed_s
        # Match factor = (trucks x loader cycle) / (loaders x truck cycle), cycles without queueing.
        trucks_in_service = in_service_s / shift_s if shift_s else math.nan
        loaders_up = self.loader_up_s / shift_s if shift_s else math.nan
        load_cycle_s = loading_s / loads if loads else math.nan
        truck_cycle_s = working_s / loads if loads else math.nan
        tonnes = sum(self.tonnes_by_material.values())
        return {
            "tonnes": tonnes,
            "ore_t": self.tonnes_by_material.get("ore", 0.0),
            "loads": float(loads),
            "queue_min_per_load": queued_s / loads / 60.0 if loads else math.nan,
            "match_factor": trucks_in_service * load_cycle_s / (loaders_up * truck_cycle_s)
            if loads and loaders_up
            else math.nan,
            "truck_utilisation_pct": 100.0 * working_s / in_service_s if in_service_s else math.nan,
            "trucks_in_service": trucks_in_service,
        }
