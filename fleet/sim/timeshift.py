"""Moving an engine state to another point in time, for `manage.py simulate`'s history backfill.

The state holds absolute simulated times besides its clock (developing faults' onset and failure, the
ground truth of faults in progress, the next sensor anomaly): a state moved back by a week must carry them
back by the same week, or a fault would start developing a week after it ends.
"""

from __future__ import annotations

import math

from fleet.sim.state import SiteState

#: The absolute times a fault record or a unit's developing fault carries (the rest are durations).
FAULT_TIME_KEYS = ("onset_s", "failure_s", "start_s", "end_s")
#: Unit lists whose units may carry a developing fault.
FAULTY_UNITS = ("trucks", "loaders", "crushers", "stockpiles")


def move_clock(state: SiteState, to_s: float) -> None:
    """Move `state` in place to the simulated UNIX time `to_s`, and every absolute time in it alike."""
    if not math.isfinite(to_s):
        raise ValueError(f"move_clock: the new clock must be a finite UNIX time, not {to_s!r}")
    delta_s = to_s - state.clock_s
    state.clock_s = to_s
    if state.next_anomaly_s is not None:
        state.next_anomaly_s += delta_s
    for record in (*state.active_faults, *state.pending_labels, *_unit_faults(state)):
        for key in FAULT_TIME_KEYS:
            if record.get(key) is not None:
                record[key] += delta_s


def forget_faults(state: SiteState, *, next_fault_id: int) -> None:
    """Drop the faults in progress and number new ones from `next_fault_id`.

    A copy of a live state that simulates history must not end or relabel the live twin's faults (labels
    are unique per site and fault id), nor reuse ids the live twin will give.
    """
    if next_fault_id < 1:
        raise ValueError(f"forget_faults: next_fault_id must be positive, not {next_fault_id}")
    state.active_faults = []
    state.pending_labels = []
    for units in FAULTY_UNITS:
        for unit in getattr(state, units):
            if hasattr(unit, "fault"):
                unit.fault = None
    state.next_fault_id = next_fault_id


def _unit_faults(state: SiteState) -> list[dict]:
    return [
        unit.fault
        for units in FAULTY_UNITS
        for unit in getattr(state, units)
        if getattr(unit, "fault", None) is not None
    ]
