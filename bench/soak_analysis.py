"""Judging a soak run: least-squares trends of memory and tick lag, spreads, and the verdicts."""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from bench.soak_clients import FleetSample
from bench.soak_sampling import SAMPLED_PHASES, Soak, Tick
from bench.soak_watch import Watch, children_steps, children_summary, explain_gaps

#: Memory before this is start-up (imports, first queries, caches filling) and not part of the trend.
WARM_UP_S = 150.0
#: Lag is compared between the first and the last this-many seconds of the run (a third of shorter runs).
TREND_WINDOW_S = 300.0
#: "No memory growth": the fitted slope stays under this many MB per 10 minutes, or under this share of RSS.
MEMORY_SLOPE_MB, MEMORY_SLOPE_SHARE = 5.0, 0.01
#: Growth is judged on each window's lowest sample (the floor): what a process keeps between bursts. daphne
#: holds a tick's frames for 500 clients in its write buffers for seconds at a time (+100 to +260 MB, gone
#: by the next sample or two), so a fit through every sample follows when the bursts happened to land; a
#: leak raises the floor.
FLOOR_WINDOW_S = 60.0
#: "No growing lag": the fitted line rises less than this over the run, and the last window's median lag
#: is at most this much above the first's.
LAG_RISE_S = 0.5
#: "Keeps up": at least this share of the ticks beat was asked to fire were applied.
KEEP_UP_SHARE = 0.95
JUDGED_ROLES = ("daphne", "worker", "beat")


def slope_per_s(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than two distinct x)."""
    if len(points) < 2:
        return 0.0
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def spread(values, scale: float = 1.0) -> dict[str, float | None]:
    """p50, p95, p99 and max (nearest rank, as bench.common.percentile) of a list or array of figures."""
    if not len(values):
        return {"p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99, top = np.percentile(np.asarray(values), [50, 95, 99, 100], method="nearest") * scale
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(top)}


Points = list[tuple[float, float]]


def floor_points(points: Points, window_s: float = FLOOR_WINDOW_S) -> Points:
    """The lowest (time, value) of each window of `window_s` seconds, in time order."""
    lows: dict[int, tuple[float, float]] = {}
    for t, value in points:
        key = int(t // window_s)
        if key not in lows or value < lows[key][1]:
            lows[key] = (t, value)
    return [lows[key] for key in sorted(lows)]


def judge_memory(
    samples: list[dict[str, Any]], peaks_mb: dict[str, float], duration_s: float
) -> dict[str, dict[str, Any]]:
    warm_up_s = min(WARM_UP_S, 0.4 * duration_s)
    figures = {}
    for role in samples[0]["rss_mb"]:
        series = [(row["t_s"], row["rss_mb"][role]) for row in samples]
        settled = [(t, mb) for t, mb in series if t >= warm_up_s]
        floor_10min = slope_per_s(floor_points(settled)) * 600
        end = series[-1][1]
        limit = max(MEMORY_SLOPE_MB, MEMORY_SLOPE_SHARE * end)
        figures[role] = {
            "start_mb": series[0][1],
            "end_mb": end,
            "max_mb": peaks_mb.get(role, max(mb for _, mb in series)),
            "slope_mb_per_10min": slope_per_s(settled) * 600,  # every sample: reported, not judged
            "floor_slope_mb_per_10min": floor_10min,
            "warm_up_s": warm_up_s,
            "limit_mb_per_10min": limit,
            "no_growth": floor_10min < limit if role in JUDGED_ROLES else None,
        }
    return figures


def judge_lag(ticks: list[Tick], duration_s: float) -> dict[str, Any]:
    points = [(tick.started_s, tick.lag_s) for tick in ticks if tick.lag_s is not None]
    window_s = min(TREND_WINDOW_S, duration_s / 3)
    first = [lag for t, lag in points if t < window_s]
    last = [lag for t, lag in points if t >= duration_s - window_s]
    slope_per_min = slope_per_s(points) * 60
    first_median = statistics.median(first) if first else 0.0
    last_median = statistics.median(last) if last else 0.0
    rise_s = slope_per_min * duration_s / 60
    return {
        **spread([lag for _, lag in points]),
        "slope_s_per_min": slope_per_min,
        "fitted_rise_s": rise_s,
        "window_s": window_s,
        "first_window_median_s": first_median,
        "last_window_median_s": last_median,
        "no_growth": rise_s < LAG_RISE_S and last_median <= first_median + LAG_RISE_S,
    }


def window_bounds(samples: list[dict[str, Any]], duration_s: float, window_s: float) -> tuple[dict, dict]:
    """The sample that ends the first window and the one that starts the last ({}: the run's start)."""
    first_end = next((row for row in samples if row["t_s"] >= window_s), samples[-1])
    before_last = [row for row in samples if row["t_s"] <= duration_s - window_s]
    return first_end, before_last[-1] if before_last else {}


def phase_means_ms(samples: list[dict[str, Any]], duration_s: float, window_s: float) -> dict[str, dict]:
    """Mean of each tick phase over the first and the last window, from the worker's tick histogram."""

    def mean(start: dict[str, float], end: dict[str, float], phase: str) -> float | None:
        count = end.get(f"tick_{phase}_count", 0.0) - start.get(f"tick_{phase}_count", 0.0)
        total = end.get(f"tick_{phase}_sum", 0.0) - start.get(f"tick_{phase}_sum", 0.0)
        return 1000 * total / count if count else None

    first_end, last_start = window_bounds(samples, duration_s, window_s)
    return {
        "first": {phase: mean({}, first_end, phase) for phase in SAMPLED_PHASES},
        "last": {phase: mean(last_start, samples[-1], phase) for phase in SAMPLED_PHASES},
    }


def cpu_shares(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Each process's CPU use between the first and the last sample, in % of one core (the machine has 2).

    "postgres" is every PostgreSQL process of the machine; "machine-*" the whole machine's busy, iowait,
    steal and idle time, summed over its CPUs."""
    first, last = samples[0], samples[-1]
    elapsed = last["t_s"] - first["t_s"]
    if elapsed <= 0:
        return {}
    return {
        role: 100 * (last["cpu_s"][role] - first["cpu_s"][role]) / elapsed
        for role in last["cpu_s"]
        if role in first["cpu_s"]
    }


def cpu_shares_first_last(samples: list[dict[str, Any]], duration_s: float, window_s: float) -> dict:
    """CPU use over the windows the tick's phases are compared in: what else grew when they did."""
    first_end, last_start = window_bounds(samples, duration_s, window_s)
    return {
        "first": cpu_shares([samples[0], first_end]),
        "last": cpu_shares([last_start or samples[0], samples[-1]]),
    }


def summarise(soak: Soak, *, duration_s: float, connected: dict, final: FleetSample, per_client: list[int],
              counters: dict[str, float], clients: int) -> dict[str, Any]:  # fmt: skip
    """Every figure of the run and the verdicts (memory, lag, errors, keeping up, delivery)."""
    applied = [tick for tick in soak.ticks if tick.applied and tick.started_s <= duration_s]
    skipped: dict[str, int] = {}
    for tick in soak.ticks:
        if not tick.applied:
            skipped[tick.reason] = skipped.get(tick.reason, 0) + 1
    expected_ticks = int(duration_s // soak.interval_s) + 1  # one at 0 s, then one per interval
    lag = judge_lag(applied, duration_s)
    published = counters["update_frames_published"]
    received = per_client + [0] * (clients - len(per_client))  # a client that never connected got nothing
    errors = soak.errors_in_run
    at_shutdown = {name: service.error_lines - errors.get(name, 0) for name, service in soak.services.items()}
    failures = {
        "error_lines": sum(errors.values()),
        "tick_tasks_failed": counters["tick_tasks_failed"],
        "broadcasts_failed": counters["broadcasts_failed"],
        "ws_disconnected": final.disconnected,
        "ws_connect_errors": len(connected["errors"]),
    }
    summary = {
        "duration_s": duration_s,
        "ticks": {
            "expected": expected_ticks,
            "applied": len(applied),
            "skipped": skipped,
            "expired_firings": soak.expired_firings,
            "keeps_up": len(applied) >= KEEP_UP_SHARE * expected_ticks,
            "duration_ms": spread([tick.duration_s for tick in applied], 1000),
        },
        "lag_s": lag,
        "tick_phase_means_ms": phase_means_ms(soak.samples, duration_s, lag["window_s"]),
        "load_average_1min": spread([row["load_1min"] for row in soak.samples]),
        "memory": judge_memory(soak.samples, soak.memory_peak_mb, duration_s),
        "cpu_pct_of_one_core": cpu_shares(soak.samples),
        "cpu_pct_first_last": cpu_shares_first_last(soak.samples, duration_s, lag["window_s"]),
        "websocket": {
            "clients": clients,
            "connected": connected["connected"],
            "connect_s": connected["connect_s"],
            "connect_attempts_refused": len(connected["refusals"]),
            "connect_errors": sorted(set(connected["errors"] + connected["refusals"]))[:5],
            "update_frames_published": published,
            "completeness_pct": 100 * sum(received) / (published * clients) if published else 0.0,
            "worst_client_pct": 100 * min(received) / published if published else 0.0,
            "complete_clients": sum(count >= published for count in received),
            "latency_ms": spread(soak.latencies_ms),
            "resync_snapshots": final.snapshots - connected["connected"],
            "deltas_dropped_for_slow_clients": counters["deltas_dropped_for_slow_clients"],
            "close_codes": final.close_codes,
        },
        "errors": {
            **failures,
            "error_lines_by_process": errors,
            "error_lines_at_shutdown": at_shutdown,
            "warning_lines_by_process": {name: s.warning_lines for name, s in soak.services.items()},
            "examples": {name: s.error_examples for name, s in soak.services.items() if s.error_examples},
        },
    }
    summary["goals"] = live_twin_goals(summary)
    summary["verdicts"] = {
        "no memory growth": all(summary["memory"][role]["no_growth"] for role in JUDGED_ROLES),
        "no growing tick lag": summary["lag_s"]["no_growth"],
        "no errors": not any(failures.values()),
        "keeps up with the interval": summary["ticks"]["keeps_up"],
        "every client got every update": summary["websocket"]["complete_clients"] == clients,
        "clean shutdown": not any(at_shutdown.values()),
    }
    return summary


def live_twin_goals(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures issue 16 sets for a run (1,000 trucks at 1 Hz for 30 min), each with whether it holds."""
    ticks, lag, phases = summary["ticks"], summary["lag_s"], summary["tick_phase_means_ms"]
    share = ticks["applied"] / ticks["expected"] if ticks["expected"] else 0.0
    first, last = phases["first"].get("persist"), phases["last"].get("persist")
    persist_ratio = last / first if first and last else None
    figures = {
        "ticks applied >= 99.5 %": (share * 100, share >= 0.995),
        "tick lag p99 < 1 s": (lag["p99"], lag["p99"] is not None and lag["p99"] < 1.0),
        "tick p95 < 500 ms": (ticks["duration_ms"]["p95"], (ticks["duration_ms"]["p95"] or 1e9) < 500),
        "persist, last 5 min / first 5 min <= 1.10": (
            persist_ratio,
            persist_ratio is not None and persist_ratio <= 1.10,
        ),
    }
    return {name: {"value": value, "met": met} for name, (value, met) in figures.items()}


def stall_figures(soak: Soak, watch: Watch) -> dict[str, Any]:
    """Every gap between applied ticks with what explains it, and the tick worker's children one by one."""
    starts = sorted(soak.began_at + tick.started_s for tick in soak.ticks if tick.applied)
    gaps = explain_gaps(starts, soak.interval_s, watch)
    for gap in gaps:
        gap["at_s"] = round(gap.pop("from_epoch") - soak.began_at, 1)
    steps = children_steps(watch)
    for step in steps:
        step["at_s"] = round(step.pop("epoch") - soak.began_at, 1)
    return {
        "gaps": gaps,
        "worker_children": children_summary(watch),
        "worker_child_rss_steps": steps,
        "watch_samples": len(watch.moments),
        "watch_errors": dict(watch.errors),
        "watcher_late_max_s": round(max((m.overshoot_s for m in watch.moments), default=0.0), 2),
    }
