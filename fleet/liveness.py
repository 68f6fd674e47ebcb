"""Whether a unit is simulated, live or stale: the twin's telemetry state, from plain values.

A unit is *simulated* until real telemetry arrives for it; from then on it is *live* (the simulator leaves
it alone) while its newest reading is recent, and *stale* once it has been silent for the configured time
(TELEMETRY_STALE_AFTER_S): the twin still shows its last values, which are getting old. A stale unit that
speaks again is live again; only an operator hands it back to the simulator (docs/live.md).

Pure: the tick, the row selectors and the alarm engine call it with the unit's `live` flag, its newest
reading time and the clock, so the same rule decides everywhere.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable


class TelemetryState(enum.StrEnum):
    SIMULATED = "simulated"  # the simulator moves it
    LIVE = "live"  # fed by real telemetry, recently heard from
    STALE = "stale"  # fed by real telemetry, silent for longer than the threshold


def telemetry_state(
    *, live: bool, last_reading_at: dt.datetime | None, now: dt.datetime, stale_after_s: float
) -> TelemetryState:
    """The state of one unit at `now`.

    A live unit without any reading (marked live by hand) is stale: nothing tells the twin where it is.
    A reading exactly `stale_after_s` old makes the unit stale.
    """
    if not live:
        return TelemetryState.SIMULATED
    if last_reading_at is None or (now - last_reading_at).total_seconds() >= stale_after_s:
        return TelemetryState.STALE
    return TelemetryState.LIVE


def stale_since(
    *, live: bool, last_reading_at: dt.datetime | None, now: dt.datetime, stale_after_s: float
) -> dt.datetime | None:
    """When a stale unit became stale (its last reading plus the threshold); None for any other state."""
    state = telemetry_state(live=live, last_reading_at=last_reading_at, now=now, stale_after_s=stale_after_s)
    if state is not TelemetryState.STALE or last_reading_at is None:
        return None
    return last_reading_at + dt.timedelta(seconds=stale_after_s)


def stale_cutoff(now: dt.datetime, stale_after_s: float) -> dt.datetime:
    """Live units whose newest reading is at or before this time are stale at `now`."""
    return now - dt.timedelta(seconds=stale_after_s)


def with_telemetry_state(rows: Iterable[dict], *, now: dt.datetime, stale_after_s: float) -> list[dict]:
    """Equipment rows (with `live` and `last_reading_at`), `telemetry` and `stale_since` added in place."""
    rows = list(rows)
    for row in rows:
        values = {"live": row["live"], "last_reading_at": row["last_reading_at"], "now": now}
        row["telemetry"] = str(telemetry_state(**values, stale_after_s=stale_after_s))
        row["stale_since"] = stale_since(**values, stale_after_s=stale_after_s)
    return rows
