"""Tipping at crushers and waste dumps: tip points served first-in, first-out while there is room."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.sim.crusher import crusher_accepting, crusher_room_t
from fleet.sim.schema import TruckStatus
from fleet.sim.state import TruckState
from fleet.sim.truck import DUMP_LOAD_FACTOR, EPS, run_engine

if TYPE_CHECKING:
    from fleet.sim.context import Tick

DUMP_AT_CRUSHER_S = 60.0  # manoeuvre and tip into a crusher pocket, ~1 min
DUMP_AT_WASTE_S = 70.0  # longer manoeuvre on a tip head


def serve_tip(tick: Tick, kind: str, unit: Any) -> None:
    """Let queued trucks tip while there are free tip points and room for their loads (FIFO: the head of the
    queue blocks the rest, which is how a full feed bin backs trucks up)."""
    while unit.queue and len(unit.tipping) < unit.tip_points:
        truck = tick.trucks[unit.queue[0]]
        if kind == "crusher":
            if not crusher_accepting(tick, unit) or crusher_room_t(tick, unit) < truck.payload_t:
                return
        elif (
            unit.dumped_t + sum(tick.trucks[t].payload_t for t in unit.tipping) + truck.payload_t
            > unit.capacity_t
        ):
            return
        unit.queue.pop(0)
        unit.tipping.append(truck.id)
        truck.status = TruckStatus.DUMPING
        truck.phase_total_s = truck.timer_s = DUMP_AT_CRUSHER_S if kind == "crusher" else DUMP_AT_WASTE_S


def dump(tick: Tick, truck: TruckState, budget_s: float) -> float:
    used = min(budget_s, truck.timer_s)
    truck.timer_s -= used
    run_engine(truck, used, DUMP_LOAD_FACTOR)
    if truck.timer_s > EPS:
        return 0.0
    kind, _, unit_id = truck.node.partition(":")
    unit = tick.destination(kind, int(unit_id))
    unit.tipping.remove(truck.id)
    payload_t = truck.payload_t
    if kind == "crusher":
        total = unit.feed_bin_t + payload_t
        if total > 0:
            unit.feed_grade_pct = (
                unit.feed_bin_t * unit.feed_grade_pct + payload_t * truck.grade_pct
            ) / total
        unit.feed_bin_t = total
        unit.total_in_t += payload_t
    else:
        unit.dumped_t += payload_t
    tick.state.totals["dumped_t"] += payload_t
    tick.emit(
        "dumped",
        "truck",
        truck.id,
        payload_t=payload_t,
        material=truck.material,
        grade_pct=truck.grade_pct,
        destination_kind=kind,
        destination_id=unit.id,
    )
    truck.payload_t = 0.0
    truck.material = None
    truck.assignment = None
    truck.status = TruckStatus.WAITING
    serve_tip(tick, kind, unit)
    return budget_s - used


def release_destination_trucks(tick: Tick, unit: Any) -> None:
    """Send trucks queued or tipping at a destination back to the dispatcher with their loads."""
    for truck_id in unit.queue + unit.tipping:
        truck = tick.trucks[truck_id]
        truck.status = TruckStatus.WAITING
    unit.queue.clear()
    unit.tipping.clear()
