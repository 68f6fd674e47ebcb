"""Stockpiles: mass balance between the crusher conveyor in and the reclaim out, with a blended grade."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleet.sim.schema import StockpileStatus
from fleet.sim.state import StockpileState

if TYPE_CHECKING:
    from fleet.sim.context import Tick

FULL_PCT = 99.9  # a stacker stops at its limit switch; call it full just before
FULL_CLEAR_PCT = 99.0  # hysteresis so a pile held at the brim by reclaim does not flicker full/high
EMPTY_T = 1.0
EMPTY_CLEAR_PCT = 0.5


def receive(pile: StockpileState, tonnes: float, grade_pct: float) -> float:
    """Stack tonnes onto the pile (no more than there is room for); returns what was taken."""
    taken = min(tonnes, max(pile.capacity_t - pile.level_t, 0.0))
    if taken <= 0:
        return 0.0
    total = pile.level_t + taken
    pile.grade_pct = (pile.level_t * pile.grade_pct + taken * grade_pct) / total
    pile.level_t = min(total, pile.capacity_t)
    pile.total_in_t += taken
    pile.step_in_t += taken
    return taken


def room_t(pile: StockpileState) -> float:
    return max(pile.capacity_t - pile.level_t, 0.0)


def advance_stockpile(tick: Tick, pile: StockpileState, dt_s: float) -> None:
    """Reclaim at the operators' rate, then update the status and report threshold crossings."""
    if pile.live:
        return
    out = min(pile.level_t, max(pile.reclaim_rate_tph, 0.0) * dt_s / 3600.0)
    pile.level_t -= out
    if pile.level_t < 1e-9:
        pile.level_t = 0.0
    pile.total_out_t += out
    pile.step_out_t += out
    update_status(tick, pile)


def _status(pile: StockpileState) -> StockpileStatus:
    util = 100.0 * pile.level_t / pile.capacity_t if pile.capacity_t > 0 else 0.0
    previous = pile.status
    if util >= FULL_PCT or (previous == StockpileStatus.FULL and util >= FULL_CLEAR_PCT):
        return StockpileStatus.FULL
    if pile.level_t <= EMPTY_T or (previous == StockpileStatus.EMPTY and util <= EMPTY_CLEAR_PCT):
        return StockpileStatus.EMPTY
    if util >= pile.high_pct:
        return StockpileStatus.HIGH
    if util <= pile.low_pct:
        return StockpileStatus.LOW
    return StockpileStatus.NORMAL


_RANK = {
    StockpileStatus.EMPTY: 0,
    StockpileStatus.LOW: 1,
    StockpileStatus.NORMAL: 2,
    StockpileStatus.HIGH: 3,
    StockpileStatus.FULL: 4,
}


def update_status(tick: Tick, pile: StockpileState) -> None:
    new = _status(pile)
    old = pile.status
    if new == old:
        return
    pile.status = new
    util = 100.0 * pile.level_t / pile.capacity_t if pile.capacity_t > 0 else 0.0
    if new == StockpileStatus.FULL:
        tick.emit("stockpile_full", "stockpile", pile.id, level_t=pile.level_t, utilisation_pct=util)
    elif new == StockpileStatus.EMPTY:
        tick.emit("stockpile_empty", "stockpile", pile.id, level_t=pile.level_t, utilisation_pct=util)
    rising = _RANK[new] > _RANK[old]
    for threshold in (pile.low_pct, pile.high_pct):
        was_above = _RANK[old] > (1 if threshold == pile.low_pct else 2)
        is_above = _RANK[new] > (1 if threshold == pile.low_pct else 2)
        if was_above != is_above:
            tick.emit(
                "threshold_crossed",
                "stockpile",
                pile.id,
                field="utilisation_pct",
                threshold=threshold,
                direction="up" if rising else "down",
                value=util,
            )


def finish_step(pile: StockpileState, dt_s: float) -> None:
    """Rates and utilisation over the whole step, for the readings."""
    if dt_s > 0:
        pile.fill_rate_tph = pile.step_in_t * 3600.0 / dt_s
        pile.discharge_rate_tph = pile.step_out_t * 3600.0 / dt_s
    pile.utilisation_pct = 100.0 * pile.level_t / pile.capacity_t if pile.capacity_t > 0 else 0.0
