"""Moving an engine state in time (simulate's backfill): the same mine, the same faults, another date."""

import numpy as np
import pytest

from fleet.sim import SiteState, default_site, step
from fleet.sim.context import Tick
from fleet.sim.faults import start_developing_fault
from fleet.sim.timeshift import forget_faults, move_clock

WEEK_S = 7 * 86_400.0


def site_with_a_developing_fault() -> SiteState:
    """A small site an hour in, its first truck developing a fault and a sensor anomaly scheduled."""
    state = default_site(seed=3, trucks=4, crushers=1, stockpiles=1)
    for _ in range(360):
        step(state, 10.0)
    tick = Tick(state, np.random.default_rng(0), None)
    start_developing_fault(tick, "truck", state.trucks[0])
    state.pending_labels.append(dict(state.active_faults[-1], event="started"))
    return state


def sensors(result) -> list[tuple]:
    return [
        (kind, row["id"], row["status"], round(row["engine_temp_c"], 9) if kind == "truck" else None)
        for kind, rows in sorted(result.readings.items())
        for row in rows
    ]


def test_a_state_moved_a_week_back_simulates_the_same_hour_a_week_earlier():
    original = site_with_a_developing_fault()
    moved = SiteState.from_dict(original.to_dict())
    move_clock(moved, original.clock_s - WEEK_S)

    for _ in range(60):
        here, there = step(original, 10.0), step(moved, 10.0)
        assert sensors(there) == sensors(here)
        assert [e.clock_s + WEEK_S for e in there.events] == pytest.approx([e.clock_s for e in here.events])
    assert moved.clock_s == pytest.approx(original.clock_s - WEEK_S)


def test_every_absolute_time_moves_by_the_same_amount():
    state = site_with_a_developing_fault()
    fault, record = dict(state.trucks[0].fault), dict(state.active_faults[0])
    anomaly_s = state.next_anomaly_s

    move_clock(state, state.clock_s - 3600.0)

    assert state.trucks[0].fault["onset_s"] == fault["onset_s"] - 3600.0
    assert state.trucks[0].fault["failure_s"] == fault["failure_s"] - 3600.0
    assert state.active_faults[0]["start_s"] == record["start_s"] - 3600.0
    assert state.pending_labels[0]["end_s"] == record["end_s"] - 3600.0
    assert state.next_anomaly_s == anomaly_s - 3600.0


def test_forgetting_faults_leaves_no_live_fault_and_numbers_new_ones_apart():
    state = site_with_a_developing_fault()

    forget_faults(state, next_fault_id=1_000_000_000)

    assert not state.active_faults and not state.pending_labels
    assert all(truck.fault is None for truck in state.trucks)
    tick = Tick(state, np.random.default_rng(1), None)
    assert start_developing_fault(tick, "truck", state.trucks[1])["fault_id"] == 1_000_000_000


@pytest.mark.parametrize("to_s", [float("nan"), float("inf")])
def test_a_clock_that_is_not_a_time_is_refused(to_s):
    with pytest.raises(ValueError, match="finite UNIX time"):
        move_clock(default_site(seed=1, trucks=1, crushers=1, stockpiles=1), to_s)


def test_fault_ids_below_one_are_refused():
    with pytest.raises(ValueError, match="next_fault_id must be positive"):
        forget_faults(default_site(seed=1, trucks=1, crushers=1, stockpiles=1), next_fault_id=0)
