"""What one call of step() works with: the state, the RNG, lookups by id and the events so far."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fleet.sim.roads import Topology, topology_for
from fleet.sim.state import Event, SiteState

if TYPE_CHECKING:
    from fleet.dispatch import Dispatcher, DispatchSnapshot


class Tick:
    __slots__ = (
        "clock_s",
        "crushers",
        "dispatcher",
        "dumps",
        "events",
        "labels",
        "loaders",
        "rng",
        "snapshot",
        "state",
        "stockpiles",
        "topo",
        "trucks",
        "zones",
    )

    def __init__(self, state: SiteState, rng: np.random.Generator, dispatcher: Dispatcher | None) -> None:
        self.state = state
        self.rng = rng
        self.dispatcher = dispatcher
        self.topo: Topology = topology_for(state.roads)
        self.trucks = {t.id: t for t in state.trucks}
        self.loaders = {u.id: u for u in state.loaders}
        self.crushers = {u.id: u for u in state.crushers}
        self.stockpiles = {u.id: u for u in state.stockpiles}
        self.dumps = {u.id: u for u in state.dumps}
        self.zones = {u.id: u for u in state.zones}
        self.events: list[Event] = []
        self.labels: list[dict] = []
        self.snapshot: DispatchSnapshot | None = None
        self.clock_s = state.clock_s

    def emit(self, kind: str, unit_kind: str, unit_id: int, **data: Any) -> None:
        self.events.append(Event(kind, unit_kind, unit_id, self.clock_s, data))

    def destination(self, kind: str, unit_id: int) -> Any:
        return (self.crushers if kind == "crusher" else self.dumps).get(unit_id)

    def new_fault_id(self) -> int:
        fault_id = self.state.next_fault_id
        self.state.next_fault_id += 1
        return fault_id
