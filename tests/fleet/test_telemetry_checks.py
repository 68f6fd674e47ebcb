"""The telemetry checks on whole columns (fleet.telemetry.check_frame): pure pandas, no database.

Times are told apart in two ways: a batch whose every time is one line of text with a zone in one regex
pass, anything else value by value. Both must give the same verdicts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fleet.sim.schema import SENSORS
from fleet.telemetry import check_frame
from fleet.window import ReadingWindow
from tests.factories import reading

NOW = dt.datetime(2026, 12, 5, 6, 0, tzinfo=dt.UTC)
WINDOW = ReadingWindow.at(NOW, retention_days=30, ahead_s=60)
TRUCK = 7


def frame(times: list, **values) -> pd.DataFrame:
    rows = []
    for ts in times:
        row = reading("truck", TRUCK, NOW, "hauling", **values)
        rows.append({**row, "ts": ts})
    return pd.DataFrame.from_records(rows, columns=["equipment_id", "ts", "status", *SENSORS["truck"]])


def checked(times: list, known=None, **values):
    known = {TRUCK: 5000.0} if known is None else known
    return check_frame("truck", frame(times, **values), np.arange(len(times)), known, WINDOW)


def test_times_with_any_zone_form_are_read_as_the_same_instant():
    result = checked(["2026-12-05T05:00:00Z", "2026-12-05T13:00:01+08:00", "2026-12-05T02:00:02-0300"])

    assert result.errors == {}
    assert result.readings["ts"].tolist() == [
        pd.Timestamp("2026-12-05T05:00:00Z"),
        pd.Timestamp("2026-12-05T05:00:01Z"),
        pd.Timestamp("2026-12-05T05:00:02Z"),
    ]


def test_a_batch_in_one_zone_form_is_read_whole():
    times = [(NOW - dt.timedelta(seconds=n)).astimezone(dt.timezone(dt.timedelta(hours=8))) for n in range(5)]

    result = checked([ts.isoformat() for ts in times])

    assert result.errors == {}
    assert result.readings["ts"].tolist() == [pd.Timestamp(ts).tz_convert("UTC") for ts in times]


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("2026-12-05T05:00:03", "has no time zone: add Z or +HH:MM"),
        ("2026-12-05T05:00:03Z\nx", "must be an ISO 8601 time, e.g. 2025-03-01T06:00:05Z"),
        ("soon", "must be an ISO 8601 time, e.g. 2025-03-01T06:00:05Z"),
        (1733375000, "must be an ISO 8601 time, e.g. 2025-03-01T06:00:05Z"),
    ],
)
def test_one_bad_time_among_zoned_ones_is_refused_alone(bad, error):
    result = checked(["2026-12-05T05:00:00Z", "2026-12-05T05:00:01Z", bad, "2026-12-05T05:00:04Z"])

    assert result.errors == {2: {"ts": [error]}}
    assert len(result.readings) == 3


def test_fuel_is_checked_against_each_units_own_tank():
    result = checked(["2026-12-05T05:00:00Z", "2026-12-05T05:00:01Z"], known={TRUCK: 900.0}, fuel_l=950.0)

    assert result.errors == {
        0: {"fuel_l": ["950 L is more than its fuel tank (900 L)"]},
        1: {"fuel_l": ["950 L is more than its fuel tank (900 L)"]},
    }


def test_a_unit_without_a_recorded_tank_is_held_to_the_sensor_range_only():
    result = checked(["2026-12-05T05:00:00Z"], known={TRUCK: None}, fuel_l=950.0)

    assert result.errors == {}


def test_an_unknown_unit_is_refused_for_that_not_for_its_fuel():
    result = checked(["2026-12-05T05:00:00Z"], known={}, fuel_l=950.0)

    assert result.errors == {0: {"equipment_id": [f"no truck with id {TRUCK}"]}}
