"""The telemetry state of a unit (fleet.liveness): simulated, live or stale, from plain values."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet.liveness import TelemetryState, stale_since, telemetry_state, with_telemetry_state

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> dt.datetime:
    return NOW - dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("live", "last_reading_at", "expected"),
    [
        (False, None, TelemetryState.SIMULATED),
        (False, ago(10_000), TelemetryState.SIMULATED),  # the simulator's own readings never go stale
        (True, ago(0), TelemetryState.LIVE),
        (True, ago(119.999), TelemetryState.LIVE),
        (True, ago(120), TelemetryState.STALE),  # exactly the threshold: stale
        (True, ago(3600), TelemetryState.STALE),
        (True, None, TelemetryState.STALE),  # marked live by hand, never heard from
        (True, NOW + dt.timedelta(seconds=30), TelemetryState.LIVE),  # a gateway clock slightly ahead
    ],
)
def test_the_state_follows_the_live_flag_and_the_age_of_the_newest_reading(live, last_reading_at, expected):
    state = telemetry_state(live=live, last_reading_at=last_reading_at, now=NOW, stale_after_s=120)
    assert state is expected


def test_the_threshold_is_the_configured_silence_not_a_constant():
    values = {"live": True, "last_reading_at": ago(200), "now": NOW}
    assert telemetry_state(**values, stale_after_s=120) is TelemetryState.STALE
    assert telemetry_state(**values, stale_after_s=300) is TelemetryState.LIVE


def test_a_stale_unit_is_stale_since_its_last_reading_plus_the_threshold_and_other_states_since_never():
    assert stale_since(live=True, last_reading_at=ago(500), now=NOW, stale_after_s=120) == ago(380)
    assert stale_since(live=True, last_reading_at=ago(60), now=NOW, stale_after_s=120) is None
    assert stale_since(live=False, last_reading_at=ago(500), now=NOW, stale_after_s=120) is None
    assert stale_since(live=True, last_reading_at=None, now=NOW, stale_after_s=120) is None


def test_rows_get_their_state_and_stale_time_in_place():
    rows = [
        {"id": 1, "live": False, "last_reading_at": ago(1000)},
        {"id": 2, "live": True, "last_reading_at": ago(10)},
        {"id": 3, "live": True, "last_reading_at": ago(130)},
    ]
    result = with_telemetry_state(rows, now=NOW, stale_after_s=120)
    assert [(row["telemetry"], row["stale_since"]) for row in result] == [
        ("simulated", None),
        ("live", None),
        ("stale", ago(10)),
    ]
    assert result[0] is rows[0]
