"""The worker's tick summary: the figures from tick outcomes (pure), and the minute kept in the real Redis."""

import logging
import os

import pytest
import redis

from fleet import tick_summary
from fleet.tick_summary import TickSummary, forget, note_tick, summarise
from fleet.ticking import TickOutcome
from smartmine.platform.logs import KeyValueFormatter


def applied(site_id: int, total_s: float, lag_s: float | None = 0.0) -> TickOutcome:
    return TickOutcome(site_id, True, tick=1, timings_s={"total": total_s}, lag_s=lag_s)


def skipped(site_id: int, reason: str) -> TickOutcome:
    return TickOutcome(site_id, False, reason)


def test_the_summary_counts_ticks_and_gives_the_p95_duration_and_the_worst_lag():
    outcomes = [
        *[applied(1, 0.100 + 0.001 * n) for n in range(19)],  # 100 … 118 ms
        applied(2, 0.900, lag_s=2.5),  # one slow, late tick: the twentieth
        applied(2, 0.050, lag_s=None),  # no lag known (headless)
        skipped(1, "too soon after the previous tick"),
        skipped(2, "paused"),
        skipped(2, "paused"),
    ]

    summary = summarise(outcomes, window_s=60.4)

    assert summary == TickSummary(
        window_s=60.4,
        sites=2,
        applied=21,
        skipped={"paused": 2, "too soon after the previous tick": 1},
        p95_ms=pytest.approx(118),  # nearest rank: the 20th of 21 durations
        max_lag_s=2.5,
    )


def test_the_summary_line_reads_as_key_values_with_the_skips_by_reason():
    summary = summarise([applied(1, 0.2104, lag_s=0.333), skipped(1, "paused")], window_s=61.2)
    record = logging.LogRecord("fleet.tick_summary", logging.INFO, __file__, 1, "tick summary", (), None)
    record.__dict__.update(summary.log_fields())

    line = KeyValueFormatter().format(record)

    assert line.endswith(
        'msg="tick summary" window_s=61 sites=1 applied=1 skipped=1 p95_ms=210 max_lag_s=0.33 '
        'skipped_by_reason="paused: 1"'
    )


def test_a_minute_without_an_applied_tick_has_no_duration_or_lag():
    summary = summarise([skipped(1, "ticking elsewhere")], window_s=60)
    assert summary.applied == 0 and summary.p95_ms is None and summary.max_lag_s is None
    assert "skipped_by_reason" in summary.log_fields()
    assert "skipped_by_reason" not in summarise([applied(1, 0.1)], window_s=60).log_fields()


@pytest.fixture
def private_keys(settings):
    """The summary's Redis keys of this test only, on the configured Redis."""
    settings.REDIS_PREFIX = f"test-tick-summary-{os.getpid()}:"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    client.delete(tick_summary.outcomes_key(), tick_summary.since_key())
    client.close()


def test_the_first_tick_after_a_minute_logs_the_summary_once(private_keys, caplog):
    with caplog.at_level(logging.INFO, logger="fleet.tick_summary"):
        assert note_tick(applied(1, 0.2), now=1000.0) is None
        assert note_tick(skipped(1, "too soon after the previous tick"), now=1030.0) is None
        summary = note_tick(applied(1, 0.4, lag_s=1.5), now=1061.0)
        assert note_tick(applied(1, 0.3), now=1062.0) is None  # the next minute has begun

    assert summary is not None and summary.window_s == 61.0
    assert (summary.applied, summary.skipped, summary.max_lag_s) == (
        2,
        {"too soon after the previous tick": 1},
        1.5,
    )
    [record] = [r for r in caplog.records if r.getMessage() == "tick summary"]
    assert (record.levelname, record.applied, record.skipped, record.p95_ms) == ("INFO", 2, 1, 400)
    assert private_keys.llen(tick_summary.outcomes_key()) == 1  # the tick of the next minute


def test_a_worker_that_starts_begins_a_fresh_minute(private_keys):
    note_tick(applied(1, 0.2), now=1000.0)  # left by a run before

    forget()

    assert note_tick(applied(1, 0.3), now=1070.0) is None  # a new minute begins at this tick
    assert note_tick(applied(1, 0.4), now=1130.0).applied == 2


def test_without_redis_the_tick_goes_on_and_the_summary_is_skipped(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="fleet.tick_summary"):
        assert note_tick(applied(1, 0.2), now=1000.0) is None
    assert "Redis did not answer" in caplog.text
