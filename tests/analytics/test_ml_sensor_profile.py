"""What a sensor's own readings say about it: cadence, resolution, normal runs, windows at its cadence."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml.sensor_profile import (
    DEFAULT_CADENCE_S,
    STUCK_MIN_READINGS,
    learn_cadence_s,
    learn_resolution,
    stuck_limit,
    stuck_runs,
    window,
)

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def test_the_cadence_is_the_median_interval_within_each_unit_never_across_units():
    ts = pd.Series([T0 + pd.Timedelta(minutes=3 * i) for i in range(5)] * 2)  # two units, same times
    groups = np.repeat([1, 2], 5)
    assert learn_cadence_s(ts, groups) == 180.0
    assert learn_cadence_s(ts[:1], groups[:1]) == DEFAULT_CADENCE_S  # one reading: nothing to learn


def test_the_resolution_is_the_smallest_step_between_distinct_values_despite_float_noise():
    quantised = np.array([0.1 * k for k in (3, 7, 7, 12, 4)] + [np.nan])
    assert learn_resolution(quantised) == pytest.approx(0.1)
    assert learn_resolution(np.array([5.0, 5.0, np.nan])) == 0.0


def test_runs_of_equal_values_restart_per_unit_and_where_holding_is_not_allowed():
    values = pd.Series([1.0, 1.0, 1.0, 2.0, 2.0, 2.0])
    groups = pd.Series([1, 1, 1, 1, 2, 2])
    allowed = np.array([True, True, False, True, True, True])
    run_len, run_start = stuck_runs(values, groups, allowed)
    assert run_len.tolist() == [1, 2, 1, 1, 1, 2]
    assert run_start.tolist() == [0, 0, 2, 3, 4, 4]


def test_a_quantised_sensor_must_hold_longer_than_chance_repeats_to_count_as_stuck():
    assert stuck_limit(longest_run=1, repeat_share=0.0) == STUCK_MIN_READINGS
    assert stuck_limit(longest_run=10, repeat_share=0.0) == 20  # twice its longest normal run
    # Half of its readings repeat the previous one: chance makes a run of L with 0.5 ** (L - 1).
    assert stuck_limit(longest_run=2, repeat_share=0.5) == 25
    assert stuck_limit(longest_run=2, repeat_share=1.0) == float("inf")


def test_windows_stretch_at_slow_cadences_so_they_still_hold_their_readings():
    assert window("short", 60.0) == pd.Timedelta(minutes=30)
    assert window("short", 900.0) == pd.Timedelta(seconds=2 * 5 * 900)  # 15-min gateway: 2.5 h
