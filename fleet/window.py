"""The window of reading times the history keeps (docs/history.md): from the retention cut-off to a small
margin ahead of now. A reading outside it is refused wherever it comes from, so nothing creates a partition
that retention would drop at once (the year 1800) or never reach (a wrong clock years ahead).

Pure, no Django: callers give the clock and the limits (fleet.readings.kept_window reads the settings).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True, slots=True)
class ReadingWindow:
    """Reading times from `start` to `end`, both included."""

    start: dt.datetime
    end: dt.datetime
    retention_days: int
    ahead_s: float

    @classmethod
    def at(cls, now: dt.datetime, *, retention_days: int, ahead_s: float) -> ReadingWindow:
        start = now - dt.timedelta(days=retention_days)
        return cls(start, now + dt.timedelta(seconds=ahead_s), retention_days, ahead_s)

    def too_old(self, ts: pd.Series) -> np.ndarray:
        """True where a (UTC) time is before the window; missing times are False."""
        return (ts < pd.Timestamp(self.start)).to_numpy(dtype=bool, na_value=False)

    def too_new(self, ts: pd.Series) -> np.ndarray:
        """True where a (UTC) time is after the window; missing times are False."""
        return (ts > pd.Timestamp(self.end)).to_numpy(dtype=bool, na_value=False)

    @property
    def too_old_reason(self) -> str:
        cutoff = self.start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"is older than the {self.retention_days} days of history kept (before {cutoff})"

    @property
    def too_new_reason(self) -> str:
        return f"is more than {_duration(self.ahead_s)} in the future"

    def refusal(self, first: dt.datetime, last: dt.datetime) -> str | None:
        """Why a batch spanning `first`..`last` is refused, or None when all of it is inside the window."""
        if first < self.start:
            return f"reading time {first.isoformat()} {self.too_old_reason}"
        if last > self.end:
            return f"reading time {last.isoformat()} {self.too_new_reason}"
        return None


def _duration(seconds: float) -> str:
    """300 -> "5 minutes", 90 -> "90 seconds": the largest whole unit."""
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds:g} seconds"
