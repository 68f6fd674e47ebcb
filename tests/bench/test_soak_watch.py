"""The soak's stall attribution: each gap between applied ticks names what left a trace in it."""

import pytest

from bench.soak_watch import Moment, Watch, children_steps, explain_gaps, line_time


def watch_with(moments: list[Moment], beat: list[float] = (), received: list[float] = ()) -> Watch:
    watch = Watch("postgresql://unused", lambda: [])
    watch.moments, watch.beat_sends, watch.worker_receipts = moments, list(beat), list(received)
    return watch


def calm(t: float, **changes) -> Moment:
    figures = {"overshoot_s": 0.0, "steal_share": 0.0, "iowait_share": 0.0, "io_pressure_share": 0.0,
               "cpu_pressure_share": 0.0, **changes}  # fmt: skip
    return Moment(t=t, **figures)


def test_only_gaps_longer_than_the_threshold_are_explained():
    starts = [0.0, 1.0, 2.0, 3.1, 10.0, 11.0]
    watch = watch_with([calm(t / 2) for t in range(24)], beat=[float(t) for t in range(12)])
    gaps = explain_gaps(starts, 1.0, watch)
    assert [gap["seconds"] for gap in gaps] == [6.9]


def test_a_gap_without_firings_is_blamed_on_beat():
    watch = watch_with([calm(t / 2, io_pressure_share=0.8) for t in range(24)], beat=[0.0, 1.0, 10.0])
    (gap,) = explain_gaps([0.0, 1.0, 10.0], 1.0, watch)
    assert gap["beat_fired"] == 0 and gap["firings_expected"] == 8
    assert gap["cause"].startswith("beat did not fire") and "80%" in gap["cause"]


def test_a_gap_where_beat_fired_but_nothing_arrived_is_blamed_on_delivery():
    firings = [float(t) for t in range(11)]
    watch = watch_with([calm(t / 2) for t in range(24)], beat=firings, received=[0.0, 1.0, 10.0])
    (gap,) = explain_gaps([0.0, 1.0, 10.0], 1.0, watch)
    assert gap["beat_fired"] >= 8 and gap["worker_received"] == 0
    assert "did not receive" in gap["cause"]


def test_a_late_watcher_means_the_whole_machine_stalled():
    moments = [calm(t / 2) for t in range(24)]
    moments[10] = calm(5.0, overshoot_s=6.0)
    watch = watch_with(moments)
    (gap,) = explain_gaps([0.0, 1.0, 10.0], 1.0, watch)
    assert gap["cause"].startswith("the machine stalled") and gap["watcher_late_max_s"] == 6.0


def test_database_waits_in_a_gap_are_named():
    firings = [float(t) for t in range(11)]
    moments = [calm(t / 2) for t in range(24)]
    moments[8].backends = [(7, "client backend", "active", "IO", "WalSync", 0.1, "COMMIT")]
    moments[9].backends = [(3, "checkpointer", "", "IO", "DataFileSync", None, "")]
    watch = watch_with(moments, beat=firings, received=firings)
    (gap,) = explain_gaps([0.0, 1.0, 10.0], 1.0, watch)
    assert gap["cause"] == "the tick waited in the database"
    assert gap["database"] == ["IO/WalSync: COMMIT x1", "checkpointer IO/DataFileSync x1"]


def test_a_childs_memory_step_is_pinned_to_the_child_and_the_moment():
    moments = [calm(0.0), calm(0.5), calm(1.0)]
    moments[0].children = {11: (300.0, 10.0), 12: (250.0, 1.0)}
    moments[1].children = {11: (301.0, 10.5), 12: (250.0, 1.0)}
    moments[2].children = {11: (301.0, 11.0), 12: (276.0, 1.3)}
    assert children_steps(watch_with(moments)) == [
        {"epoch": 1.0, "pid": 12, "rise_mb": 26.0, "rss_mb": 276.0, "cpu_s": 1.3}
    ]


def test_log_lines_of_beat_and_the_worker_are_recognised():
    from bench.soak_watch import BEAT_TICK_SENT, WORKER_TICK_RECEIVED

    beat = (
        "ts=2026-12-03T17:49:55.120+00:00 level=INFO logger=celery.beat "
        'msg="Scheduler: Sending due task tick site 1 (fleet.tasks.tick_site_task)"'
    )
    received = (
        "ts=2026-12-03T17:49:55.130+00:00 level=INFO logger=celery.worker.strategy "
        'msg="Task fleet.tasks.tick_site_task[3f2a] received"'
    )
    assert line_time(WORKER_TICK_RECEIVED, received) - line_time(BEAT_TICK_SENT, beat) == pytest.approx(
        0.01, abs=1e-3
    )
    assert line_time(BEAT_TICK_SENT, received) is None
