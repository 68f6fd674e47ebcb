"""Primary crushers: a feed bin filled by truck dumps, crushed at a rate limited by rated capacity, liner
wear and the room on the stockpile its conveyor feeds."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fleet.sim.faults import FAULT_EFFICIENCY_LOSS, fault_rise, severity
from fleet.sim.schema import CrusherStatus
from fleet.sim.state import CrusherState
from fleet.sim.stockpile import receive, room_t

if TYPE_CHECKING:
    from fleet.sim.context import Tick

LINER_EFFICIENCY_LOSS = 0.30  # a worn-out liner set opens the closed-side setting: ~30 % less capacity
IDLE_POWER_SHARE = 0.15  # no-load draw of a gyratory/jaw, ~10-20 % of installed power
FULL_POWER_SHARE = 0.85  # draw at rated throughput
BLOCKAGE_MIN_S = 10 * 60.0  # clearing a bridged rock from the chamber: 10-40 min with a rock breaker
BLOCKAGE_MAX_S = 40 * 60.0
TEMP_TAU_S = 900.0  # bearing temperature follows load over ~15 min
DOWN = (CrusherStatus.MAINTENANCE, CrusherStatus.BROKEN_DOWN)


def crusher_room_t(tick: Tick, crusher: CrusherState) -> float:
    """Room left in the feed bin, less the loads of trucks already tipping."""
    reserved = sum(tick.trucks[t].payload_t for t in crusher.tipping)
    return crusher.feed_bin_capacity_t - crusher.feed_bin_t - reserved


def crusher_accepting(tick: Tick, crusher: CrusherState) -> bool:
    """False under backpressure: stopped, or the bin has no room (a full stockpile stops the crusher, which
    fills the bin)."""
    return not crusher.live and crusher.status not in DOWN and crusher_room_t(tick, crusher) > 0


def efficiency(crusher: CrusherState, clock_s: float) -> float:
    liner = 1.0 - LINER_EFFICIENCY_LOSS * crusher.liner_wear_pct / 100.0
    return liner * (1.0 - FAULT_EFFICIENCY_LOSS * severity(crusher.fault, clock_s))


def advance_crusher(tick: Tick, crusher: CrusherState, dt_s: float) -> None:
    if crusher.live or crusher.status in DOWN:
        crusher.load_factor = 0.0
        return
    dt_h = dt_s / 3600.0
    eff = efficiency(crusher, tick.clock_s)
    crusher.efficiency_pct = 100.0 * eff
    load_factor = 0.0
    if crusher.blockage_left_s > 0:
        crusher.blockage_left_s -= dt_s
        crusher.status = CrusherStatus.BLOCKED
        if crusher.blockage_left_s <= 0:
            crusher.blockage_left_s = 0.0
            crusher.status = CrusherStatus.IDLE
            tick.emit("blockage_cleared", "crusher", crusher.id)
    else:
        capacity_t = crusher.rated_tph * eff * dt_h
        pile = tick.stockpiles.get(crusher.stockpile_id) if crusher.stockpile_id is not None else None
        downstream_t = room_t(pile) if pile is not None and not pile.live else math.inf
        wanted_t = min(crusher.feed_bin_t, capacity_t)
        out_t = min(wanted_t, downstream_t)
        if out_t > 0:
            crusher.feed_bin_t -= out_t
            if crusher.feed_bin_t < 1e-9:
                crusher.feed_bin_t = 0.0
            crusher.total_out_t += out_t
            crusher.step_out_t += out_t
            if pile is not None and not pile.live:
                receive(pile, out_t, crusher.feed_grade_pct)
        load_factor = out_t / (crusher.rated_tph * dt_h) if dt_h > 0 else 0.0
        if out_t < wanted_t - 1e-9:
            if crusher.status != CrusherStatus.BLOCKED:
                tick.emit(
                    "blocked",
                    "crusher",
                    crusher.id,
                    reason="stockpile_full",
                    stockpile_id=crusher.stockpile_id,
                )
            crusher.status = CrusherStatus.BLOCKED
        else:
            crusher.status = CrusherStatus.RUNNING if out_t > 0 else CrusherStatus.IDLE
        crusher.liner_wear_pct = min(100.0, crusher.liner_wear_pct + 100.0 * out_t / crusher.liner_life_t)
        crusher.next_blockage_h -= dt_h * load_factor
        if crusher.next_blockage_h <= 0:
            rng = tick.rng
            crusher.blockage_left_s = float(rng.uniform(BLOCKAGE_MIN_S, BLOCKAGE_MAX_S))
            crusher.next_blockage_h = float(rng.exponential(tick.state.config.crusher_blockage_mean_h))
            crusher.status = CrusherStatus.BLOCKED
            tick.emit(
                "blocked",
                "crusher",
                crusher.id,
                reason="chamber_blockage",
                duration_s=crusher.blockage_left_s,
            )
    crusher.load_factor = load_factor
    crusher.wear_h += dt_h * (0.3 + 0.7 * load_factor)


def update_sensors(crusher: CrusherState, dt_s: float, clock_s: float) -> None:
    """True (noise-free) sensor values at the end of a step."""
    liner = crusher.liner_wear_pct / 100.0
    if dt_s > 0:
        crusher.throughput_tph = crusher.step_out_t * 3600.0 / dt_s
    powered = crusher.status not in DOWN
    lf = crusher.throughput_tph / crusher.rated_tph if crusher.rated_tph else 0.0
    fault = crusher.fault
    if powered:
        target_c = 38.0 + 22.0 * lf + 6.0 * liner + fault_rise("crusher", fault, "temperature_c", clock_s)
        crusher.vibration_mm_s = (
            0.8 + 3.2 * lf + 1.5 * liner + fault_rise("crusher", fault, "vibration_mm_s", clock_s)
        )
        share = IDLE_POWER_SHARE + (FULL_POWER_SHARE - IDLE_POWER_SHARE) * min(lf, 1.2)
        crusher.power_kw = crusher.motor_power_kw * share * (1.0 + 0.15 * liner) + fault_rise(
            "crusher", fault, "power_kw", clock_s
        )
    else:
        target_c = 30.0  # cools to ambient (Pilbara day)
        crusher.vibration_mm_s = 0.1
        crusher.power_kw = 0.0
    alpha = 1.0 - math.exp(-dt_s / TEMP_TAU_S) if dt_s > 0 else 0.0
    crusher.temperature_c += alpha * (target_c - crusher.temperature_c)
    crusher.efficiency_pct = 100.0 * efficiency(crusher, clock_s)
