"""Alarm-system performance figures of ISA-18.2 / IEC 62682 and EEMUA 191, from plain alarm records.

Pure Python: the API, the management command and the bench all compute the same figures from the same
code. An alarm is *annunciated* when it is raised unshelved; *standing* when active for more than 24 h;
*chattering* when one alarm (rule on one unit) is raised 3 or more times within 60 s; a 10-minute window
with more than 10 annunciated alarms is a *flood* (docs/alarms.md).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

FLOOD_WINDOW_S = 600.0
FLOOD_ABOVE = 10  # more than 10 alarms in 10 minutes (EEMUA 191, ISA-18.2)
CHATTER_WINDOW_S = 60.0
CHATTER_RAISES = 3
STANDING_AFTER_S = 24 * 3600.0
#: ISA-18.2 targets per operator: ~6 alarms an hour (150 a day) acceptable, ~12 an hour manageable.
ACCEPTABLE_PER_HOUR = 6.0
MANAGEABLE_PER_HOUR = 12.0


@dataclass(frozen=True, slots=True)
class AlarmRecord:
    """One raise of one alarm: which (rule, unit), when, when it cleared (None: still active)."""

    key: Hashable
    raised_s: float
    cleared_s: float | None = None
    annunciated: bool = True  # False when raised while shelved


@dataclass
class Performance:
    hours: float
    operators: int
    annunciated: int
    per_hour_per_operator: float
    peak_10min: int
    flood_windows: int  # 10-minute windows (fixed, from the start) above FLOOD_ABOVE
    flood_share_pct: float  # share of those windows in flood
    chattering: list[str] = field(default_factory=list)
    standing: list[dict[str, Any]] = field(default_factory=list)
    top: list[dict[str, Any]] = field(default_factory=list)  # most frequent alarms and their share
    verdict: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def performance(
    records: Iterable[AlarmRecord], *, start_s: float, end_s: float, operators: int = 1
) -> Performance:
    """The figures over [start_s, end_s) for `operators` operators sharing the alarms."""
    if not end_s > start_s:
        raise ValueError(f"performance: the period must end after it starts (start {start_s}, end {end_s})")
    if operators < 1:
        raise ValueError(f"performance: operators must be at least 1, got {operators}")
    records = list(records)
    raised = sorted(r.raised_s for r in records if r.annunciated and start_s <= r.raised_s < end_s)
    hours = (end_s - start_s) / 3600.0
    windows = max(1, int((end_s - start_s + FLOOD_WINDOW_S - 1) // FLOOD_WINDOW_S))
    per_window = [0] * windows
    for t in raised:
        per_window[int((t - start_s) // FLOOD_WINDOW_S)] += 1
    floods = sum(1 for n in per_window if n > FLOOD_ABOVE)
    peak = max((bisect.bisect_left(raised, t + FLOOD_WINDOW_S) - i for i, t in enumerate(raised)), default=0)
    by_key: dict[Hashable, list[float]] = defaultdict(list)
    for r in records:
        if start_s <= r.raised_s < end_s:
            by_key[r.key].append(r.raised_s)
    chattering = sorted(str(key) for key, times in by_key.items() if _chatters(sorted(times)))
    standing = [
        {"key": str(r.key), "raised_s": r.raised_s, "active_h": round((end_s - r.raised_s) / 3600.0, 1)}
        for r in records
        if r.cleared_s is None and end_s - r.raised_s > STANDING_AFTER_S
    ]
    total = len(raised)
    counts = sorted(((len(t), str(k)) for k, t in by_key.items()), reverse=True)[:10]
    top = [{"key": key, "raises": n, "share_pct": round(100.0 * n / total, 1) if total else 0.0}
           for n, key in counts]  # fmt: skip
    rate = total / hours / operators
    verdict = (
        "acceptable"
        if rate <= ACCEPTABLE_PER_HOUR
        else "manageable"
        if rate <= MANAGEABLE_PER_HOUR
        else "overloaded"
    )
    return Performance(
        hours=round(hours, 3), operators=operators, annunciated=total, per_hour_per_operator=round(rate, 3),
        peak_10min=peak, flood_windows=floods, flood_share_pct=round(100.0 * floods / windows, 2),
        chattering=chattering, standing=standing, top=top, verdict=verdict,
    )  # fmt: skip


def _chatters(times: list[float]) -> bool:
    """Three or more raises inside any 60-second window."""
    span = CHATTER_RAISES - 1
    return any(times[i + span] - times[i] <= CHATTER_WINDOW_S for i in range(len(times) - span))
