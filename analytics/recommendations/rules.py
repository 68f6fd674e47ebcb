"""Advice that needs no trained model, read straight off the engine's state: plain data in, findings out.

* service due: a unit's wear-hours since its last service past SERVICE_INTERVAL_SHARE of its kind's Weibull
  scale life, ranked by the chance the fleet's own wear-out law gives it of failing within the horizon;
* loader starving: a working loader with no truck at it and none loaded for LOADER_STARVING_S;
* crusher backing up: a crusher blocked, or with CRUSHER_QUEUE_TRUCKS or more trucks queuing at it;
* stockpile near a threshold: a pile at or above STOCKPILE_HIGH_PCT, or at or below STOCKPILE_LOW_PCT.

The engine's hidden truth (a unit's sampled failure wear, its developing fault) is never read: only what a
control room knows (hours since service, health, status, queues, levels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.ml.risk import actionable
from fleet.sim.schema import CrusherStatus, LoaderStatus

#: A unit is due for service once its wear-hours since the last service reach this share of its kind's
#: Weibull scale life (trucks: 0.7 x 70 h = 49 h). At that wear the wear-out law gives a truck about a 45 %
#: chance of a fault within 24 h, above the fleet's usual 15-30 %.
SERVICE_INTERVAL_SHARE = 0.7
SERVICE_HORIZON_H = 24.0
#: A loader with no truck loaded for this long, while it could load, is starving.
LOADER_STARVING_S = 180.0
#: A crusher with this many trucks queuing is backing up (one short of the long-queue alarm at 5).
CRUSHER_QUEUE_TRUCKS = 4
#: Stockpile levels worth advice before the high (95 %) and low (5 %) alarms.
STOCKPILE_HIGH_PCT, STOCKPILE_LOW_PCT = 90.0, 10.0


@dataclass(frozen=True)
class ServiceDue:
    kind: str
    unit_id: int
    name: str
    wear_h: float
    interval_h: float
    p_fail: float
    health: float
    engine_hours: float | None


def weibull_risk(wear_h: float, shape: float, scale_h: float, horizon_h: float = SERVICE_HORIZON_H) -> float:
    """Chance a unit that has survived wear_h fails within the next horizon_h of wear (Weibull)."""
    if scale_h <= 0 or shape <= 0:
        raise ValueError(f"weibull_risk: shape {shape!r} and scale_h {scale_h!r} must be positive")
    if wear_h < 0 or horizon_h < 0:
        raise ValueError(f"weibull_risk: wear_h {wear_h!r} and horizon_h {horizon_h!r} must not be negative")
    return 1.0 - math.exp(-(((wear_h + horizon_h) / scale_h) ** shape - (wear_h / scale_h) ** shape))


def services_due(state: Any, *, share: float = SERVICE_INTERVAL_SHARE) -> list[ServiceDue]:
    """Units past their service interval, riskiest first, at most as many as the fleet's wear-out law expects
    to fail within the horizon (analytics.ml.risk.actionable's cap, without its probability floor)."""
    units = []
    for kind, group in (("truck", state.trucks), ("loader", state.loaders), ("crusher", state.crushers)):
        shape = getattr(state.config, f"{kind}_weibull_shape")
        scale_h = getattr(state.config, f"{kind}_weibull_scale_h")
        for unit in group:
            if unit.live or unit.status in ("maintenance", "broken_down"):
                continue  # real telemetry has no engine wear; a unit in the workshop is being seen to
            p = weibull_risk(unit.wear_h, shape, scale_h)
            units.append((kind, unit, share * scale_h, p))
    if not units:
        return []
    p = np.array([u[3] for u in units])
    mask = actionable(p, min_p=0.0)
    due = [
        ServiceDue(kind, unit.id, unit.name, unit.wear_h, interval, risk, unit.health,
                   getattr(unit, "engine_hours", None))
        for (kind, unit, interval, risk), flagged in zip(units, mask, strict=True)
        if flagged and unit.wear_h >= interval
    ]  # fmt: skip
    return sorted(due, key=lambda d: -d.p_fail)


def starving_loaders(
    state: Any, last_loaded_s: dict[int, float], *, since_s: float
) -> list[tuple[Any, float]]:
    """Loaders idle with no truck at them and nothing loaded for LOADER_STARVING_S: (loader, idle seconds).

    `last_loaded_s` maps loader id to the clock of its last load; `since_s` is when the record starts (a
    loader not loaded since then has been idle at least that long)."""
    now_s = state.clock_s
    found = []
    for loader in state.loaders:
        if loader.status != LoaderStatus.IDLE or loader.queue or loader.loading_truck_id is not None:
            continue
        if loader.relocating_left_s > 0:
            continue
        idle_s = now_s - max(last_loaded_s.get(loader.id, since_s), since_s)
        if idle_s >= LOADER_STARVING_S:
            found.append((loader, idle_s))
    return found


def backed_up_crushers(state: Any) -> list[Any]:
    """Crushers blocked or with CRUSHER_QUEUE_TRUCKS or more trucks waiting to tip."""
    return [
        crusher
        for crusher in state.crushers
        if crusher.status == CrusherStatus.BLOCKED or len(crusher.queue) >= CRUSHER_QUEUE_TRUCKS
    ]


def stockpiles_near_limits(state: Any) -> list[tuple[Any, float, str]]:
    """Piles at or past the advice thresholds: (pile, utilisation %, "high" or "low")."""
    found = []
    for pile in state.stockpiles:
        if pile.capacity_t <= 0:
            raise ValueError(f"stockpile {pile.name!r}: capacity_t {pile.capacity_t!r} must be positive")
        pct = 100.0 * pile.level_t / pile.capacity_t
        if pct >= STOCKPILE_HIGH_PCT:
            found.append((pile, pct, "high"))
        elif pct <= STOCKPILE_LOW_PCT:
            found.append((pile, pct, "low"))
    return found
