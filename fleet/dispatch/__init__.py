"""Truck dispatching: plain data in, assignments out.

A simulator (ours, or any other) builds a `DispatchSnapshot` of the site and asks a `Dispatcher` where a
truck goes next. A dispatcher is any callable `(snapshot, truck_id) -> Assignment | None`; it never sees the
engine's classes, so every strategy can be written and tested on hand-made snapshots. Strategies are picked by
name from `STRATEGIES` / `get_dispatcher()` (the values of the site's `dispatch_strategy` choice). No Django.
See docs/dispatch.md for the interface, the strategies and the LP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fleet.dispatch.interface import (
    Assignment,
    DestinationSnapshot,
    Dispatcher,
    DispatchSnapshot,
    LoaderSnapshot,
    TruckSnapshot,
)
from fleet.dispatch.lp import ProductionTargets
from fleet.dispatch.optimiser import Optimiser
from fleet.dispatch.rules import fixed, fixed_to, shortest_queue, sptf

__all__ = [
    "STRATEGIES",
    "Assignment",
    "DestinationSnapshot",
    "DispatchSnapshot",
    "Dispatcher",
    "LoaderSnapshot",
    "Optimiser",
    "ProductionTargets",
    "TruckSnapshot",
    "fixed",
    "fixed_to",
    "get_dispatcher",
    "shortest_queue",
    "sptf",
]


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
