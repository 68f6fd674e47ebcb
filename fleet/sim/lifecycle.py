"""Breakdowns, repairs and operator maintenance: taking units out of service and back, with their faults."""

from __future__ import annotations

import math
from typing import Any

from fleet.sim.context import Tick
from fleet.sim.faults import (
    end_fault,
    label,
    sample_failure_wear_h,
    severity,
    start_developing_fault,
    weibull,
)
from fleet.sim.haul import detach_trucks
from fleet.sim.loader import release_loader_trucks, serve_loader
from fleet.sim.motion import resume_route
from fleet.sim.schema import CrusherStatus, LoaderStatus, TruckStatus
from fleet.sim.state import Event, SiteState, rng_from_state, rng_to_state
from fleet.sim.tipping import serve_tip

MAINTENANCE = {
    "truck": TruckStatus.MAINTENANCE,
    "loader": LoaderStatus.MAINTENANCE,
    "crusher": CrusherStatus.MAINTENANCE,
}
BROKEN = {
    "truck": TruckStatus.BROKEN_DOWN,
    "loader": LoaderStatus.BROKEN_DOWN,
    "crusher": CrusherStatus.BROKEN_DOWN,
}
IN_SERVICE = {"truck": TruckStatus.WAITING, "loader": LoaderStatus.IDLE, "crusher": CrusherStatus.IDLE}
HEALTH_WEAR_SHARE = 25.0  # health points lost to wear alone (a unit at its Weibull scale life shows 75 %)
HEALTH_FAULT_SHARE = 60.0  # further points lost to a developing fault at full severity


def is_down(kind: str, unit: Any) -> bool:
    return unit.status == MAINTENANCE[kind] or unit.status == BROKEN[kind]


def update_health(kind: str, unit: Any, clock_s: float, scale_h: float) -> float:
    worn = min(unit.wear_h / scale_h, 1.0) if scale_h > 0 else 0.0
    health = 100.0 - HEALTH_WEAR_SHARE * worn - HEALTH_FAULT_SHARE * severity(unit.fault, clock_s)
    if kind == "crusher":
        health -= 10.0 * unit.liner_wear_pct / 100.0
    unit.health = min(100.0, max(0.0, health))
    return unit.health


def check_failure(tick: Tick, kind: str, unit: Any) -> None:
    """Start a developing fault when wear reaches the sampled onset; break down when it runs its course."""
    cfg = tick.state.config
    if unit.fault is None:
        if not cfg.failures_enabled or unit.wear_h < unit.failure_wear_h:
            return
        if tick.rng.random() < cfg.sudden_failure_share:
            record = {
                "fault_id": tick.new_fault_id(),
                "category": "sudden_failure",
                "label": "sudden_failure",
                "unit_kind": kind,
                "unit_id": unit.id,
                "sensors": [],
                "start_s": tick.clock_s,
                "end_s": tick.clock_s,
                "params": {},
            }
            tick.labels.append(label(record, "started"))
            tick.labels.append(label(record, "ended", outcome="breakdown"))
            breakdown(tick, kind, unit, mode="sudden_failure", fault_id=record["fault_id"])
        else:
            start_developing_fault(tick, kind, unit)
    elif tick.clock_s >= unit.fault["failure_s"]:
        fault = unit.fault
        end_fault(tick.state, tick.labels, fault["fault_id"], tick.clock_s, "breakdown")
        breakdown(tick, kind, unit, mode=fault["mode"], fault_id=fault["fault_id"])


def breakdown(tick: Tick, kind: str, unit: Any, *, mode: str, fault_id: int) -> None:
    cfg = tick.state.config
    median_h = getattr(cfg, f"{kind}_repair_median_h")
    repair_h = median_h * math.exp(cfg.repair_sigma * float(tick.rng.standard_normal()))
    take_down(tick, kind, unit, BROKEN[kind])
    unit.fault = None
    unit.repair_left_s = repair_h * 3600.0
    tick.emit("breakdown", kind, unit.id, mode=mode, fault_id=fault_id, repair_h=repair_h, health=unit.health)


def take_down(tick: Tick, kind: str, unit: Any, status: Any) -> None:
    """Out of service: leave queues and services; a truck stops where it is, loads stay on."""
    if not is_down(kind, unit):
        unit.status_before_down = str(unit.status)
    unit.status = status
    if kind == "truck":
        detach_trucks(tick, {unit.id})
        unit.speed_kmh = 0.0
        unit.load_factor = 0.0
    elif kind == "loader":
        release_loader_trucks(tick, unit)
        unit.status = status


def bring_up(tick: Tick, kind: str, unit: Any) -> None:
    """Back in service as good as new (wear reset, a fresh failure point)."""
    restore_health(tick, kind, unit)
    unit.repair_left_s = 0.0
    before = unit.status_before_down
    unit.status_before_down = None
    if kind == "truck":
        travelling = before in (TruckStatus.RETURNING, TruckStatus.HAULING)
        if travelling and unit.route and unit.route_index < len(unit.route):
            unit.status = TruckStatus(before)
            resume_route(tick, unit)
        else:
            unit.status = TruckStatus.WAITING
            unit.route = []
    elif kind == "loader":
        unit.status = LoaderStatus.IDLE
        serve_loader(tick, unit)
    else:
        unit.status = CrusherStatus.IDLE
        serve_tip(tick, "crusher", unit)


def restore_health(tick: Tick, kind: str, unit: Any) -> None:
    if unit.fault is not None:
        end_fault(tick.state, tick.labels, unit.fault["fault_id"], tick.clock_s, "maintenance")
        unit.fault = None
    shape, scale_h = weibull(tick.state.config, kind)
    unit.wear_h = 0.0
    unit.failure_wear_h = sample_failure_wear_h(tick.rng, shape, scale_h, 0.0)
    unit.health = 100.0


def advance_repair(tick: Tick, kind: str, unit: Any, dt_s: float) -> None:
    if unit.status != BROKEN[kind]:
        return
    unit.repair_left_s -= dt_s
    if unit.repair_left_s <= 0:
        bring_up(tick, kind, unit)
        tick.emit("repaired", kind, unit.id)


def set_operator_status(state: SiteState, kind: str, unit_id: int, status: str) -> list[Event]:
    """Put a truck, loader or crusher into maintenance, or return it to service (health and wear restored;
    a crusher also gets new liners). Advances the state in place; ground-truth labels of faults ended by the
    maintenance are reported by the next step()."""
    if kind not in MAINTENANCE:
        raise ValueError(f"operators set the status of trucks, loaders and crushers, not {kind!r}")
    units = {"truck": state.trucks, "loader": state.loaders, "crusher": state.crushers}[kind]
    unit = next((u for u in units if u.id == unit_id), None)
    if unit is None:
        raise ValueError(f"no {kind} with id {unit_id}")
    wanted = type(MAINTENANCE[kind])(status)
    if wanted == BROKEN[kind]:
        raise ValueError("breakdowns come from the engine, not from operators")
    rng = rng_from_state(state.rng_state)
    tick = Tick(state, rng, None)
    if wanted == MAINTENANCE[kind]:
        if unit.status != wanted:
            take_down(tick, kind, unit, wanted)
            unit.repair_left_s = 0.0
            if unit.fault is not None:
                end_fault(state, tick.labels, unit.fault["fault_id"], state.clock_s, "maintenance")
                unit.fault = None
            tick.emit("maintenance_started", kind, unit.id)
    elif is_down(kind, unit):
        if kind == "crusher":
            unit.liner_wear_pct = 0.0
        bring_up(tick, kind, unit)
        tick.emit("maintenance_ended", kind, unit.id)
    state.rng_state = rng_to_state(rng)
    state.pending_labels.extend(tick.labels)
    return tick.events
