"""The worker's tick summary: once a minute, one INFO line for the ticks of every site in that minute.

Celery's own line per task is shown only at DEBUG (smartmine.platform.logs.ROUTINE_LOGGERS); this line is
what a person watching the console reads instead. The worker runs ticks in several pool processes, so each
tick task adds its outcome to a Redis list, and the first process to find the minute over takes the list
and logs the summary: one line per minute for the whole worker, whichever process ran which tick.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings

from fleet.ticking import TickOutcome

logger = logging.getLogger(__name__)

SUMMARY_EVERY_S = 60.0
#: Outcomes older than this are dropped with their keys: a worker stopped for an hour starts a fresh minute.
FORGET_AFTER_S = 3600
MAX_OUTCOMES = 100_000  # far beyond a minute of ticks, however many sites: a bound, not a limit


@dataclass(frozen=True)
class TickSummary:
    """What the ticks of one window came to: counts, the slowest twentieth, the worst lag."""

    window_s: float
    sites: int
    applied: int
    skipped: dict[str, int]  # reason -> count
    p95_ms: float | None  # tick duration, applied ticks only
    max_lag_s: float | None

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "window_s": round(self.window_s),
            "sites": self.sites,
            "applied": self.applied,
            "skipped": sum(self.skipped.values()),
            "p95_ms": None if self.p95_ms is None else round(self.p95_ms),
            "max_lag_s": None if self.max_lag_s is None else round(self.max_lag_s, 2),
        }
        if self.skipped:
            fields["skipped_by_reason"] = ", ".join(f"{reason}: {n}" for reason, n in self.skipped.items())
        return fields


def summarise(outcomes: Sequence[TickOutcome], *, window_s: float) -> TickSummary:
    """The summary of some tick outcomes (pure: the figures of the minute's line)."""
    applied = [outcome for outcome in outcomes if outcome.applied]
    durations = sorted(outcome.timings_s["total"] for outcome in applied if "total" in outcome.timings_s)
    lags = [outcome.lag_s for outcome in applied if outcome.lag_s is not None]
    skipped = Counter(outcome.reason for outcome in outcomes if not outcome.applied)
    return TickSummary(
        window_s=window_s,
        sites=len({outcome.site_id for outcome in outcomes}),
        applied=len(applied),
        skipped=dict(sorted(skipped.items())),
        p95_ms=durations[math.ceil(0.95 * len(durations)) - 1] * 1000 if durations else None,  # nearest rank
        max_lag_s=max(lags, default=None),
    )


def outcomes_key() -> str:
    """The installation's list of the minute's outcomes (its Redis prefix keeps installations apart)."""
    return f"{settings.REDIS_PREFIX}tick-summary:outcomes"


def since_key() -> str:
    """When the installation's current minute began (Unix time)."""
    return f"{settings.REDIS_PREFIX}tick-summary:since"


def note_tick(outcome: TickOutcome, *, now: float | None = None) -> TickSummary | None:
    """Add a tick task's outcome to the minute's; log and return the summary if this call ends the minute.

    Redis not answering costs the summary, never the tick."""
    now = time.time() if now is None else now
    try:
        return _note(_client(settings.REDIS_URL), outcome, now)
    except redis.RedisError as error:
        logger.warning("tick summary skipped: Redis did not answer: %s", error)
        return None


def forget() -> None:
    """Start a fresh minute (a worker starting): the ticks of a run before it are not this run's."""
    try:
        _client(settings.REDIS_URL).delete(outcomes_key(), since_key())
    except redis.RedisError as error:
        logger.warning("tick summary not reset: Redis did not answer: %s", error)


def _note(client: redis.Redis, outcome: TickOutcome, now: float) -> TickSummary | None:
    outcomes, since_at = outcomes_key(), since_key()
    pipe = client.pipeline()
    pipe.rpush(outcomes, json.dumps(_encode(outcome)))
    pipe.ltrim(outcomes, -MAX_OUTCOMES, -1)
    pipe.set(since_at, now, nx=True)
    pipe.get(since_at)
    pipe.expire(outcomes, FORGET_AFTER_S)
    pipe.expire(since_at, FORGET_AFTER_S)
    since = float(pipe.execute()[3])
    # Only one process deletes the key: that one takes the minute (a tick noted meanwhile joins it).
    if now - since < SUMMARY_EVERY_S or not client.delete(since_at):
        return None
    pipe = client.pipeline()
    pipe.lrange(outcomes, 0, -1)
    pipe.delete(outcomes)
    noted = pipe.execute()[0]
    summary = summarise([_decode(item) for item in noted], window_s=now - since)
    logger.info("tick summary", extra=summary.log_fields())
    return summary


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)


def _encode(outcome: TickOutcome) -> dict[str, Any]:
    return {
        "site": outcome.site_id,
        "applied": outcome.applied,
        "reason": outcome.reason,
        "total_s": outcome.timings_s.get("total"),
        "lag_s": outcome.lag_s,
    }


def _decode(item: bytes) -> TickOutcome:
    fields = json.loads(item)
    timings = {} if fields["total_s"] is None else {"total": fields["total_s"]}
    return TickOutcome(
        fields["site"], fields["applied"], fields["reason"], timings_s=timings, lag_s=fields["lag_s"]
    )
