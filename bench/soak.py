"""Soak: the real system for half an hour under a big site and many live clients; does anything drift?

Runs on a private bench database and a private Redis: one site of --trucks trucks (loaders, crushers and
stockpiles in bench_tick's proportions), daphne, a Celery worker and Celery beat started with runsystem's
command lines, beat firing the site's tick every --interval seconds through its django-celery-beat entry
(so lag is real lag), and --clients WebSocket clients of bench.ws_client on the default subscription.
Every SAMPLE_EVERY_S it records each process's memory and CPU time, the ticks applied, tick duration and
lag, the clients' frames and latency, disconnects, error lines in the processes' logs and failed ticks; at
the end it judges memory growth, lag growth and errors, prints a table, writes
bench/results/soak-latest.json and rewrites the "## Soak" section of docs/soak.md.

Tick figures come from the worker's own log (Celery's "succeeded in" line of each tick task: exact
duration, and start = end - duration); lag is computed as the system's smartmine_tick_lag_seconds is: the
time since the previous applied tick, minus the interval.
Usage: `python -m bench.soak [--minutes 30] [--trucks 1000] [--clients 500] [--interval 1.0]` (`make soak`).
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_ws import rss_mb, stop
from bench.common import BenchDatabase, connection_url, percentile, setup_django
from bench.soak_clients import FleetSample, SoakClients
from smartmine.devservices import free_port, wait_for_port
from tests.processes import wait_for_worker

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
RESULTS_FILE = RESULTS_DIR / "soak-latest.json"
DOCS_FILE = ROOT / "docs" / "soak.md"
DOCS_SECTION = "## Soak"
SOAK_SITE = "Soak"
SAMPLE_EVERY_S = 10.0
#: Memory is read this often and a sample keeps the median: daphne's RSS swings by ~100 MB within a second
#: as 500 clients' frames are buffered and freed, which is noise to a trend.
MEMORY_EVERY_S = 2.0
#: Memory before this is start-up (imports, first queries, caches filling) and not part of the trend.
WARM_UP_S = 150.0
#: Lag is compared between the first and the last this-many seconds of the run (a third of shorter runs).
TREND_WINDOW_S = 300.0
#: "No memory growth": the fitted slope stays under this many MB per 10 minutes, or under this share of RSS.
MEMORY_SLOPE_MB, MEMORY_SLOPE_SHARE = 5.0, 0.01
#: "No growing lag": the fitted line rises less than this over the run, and the last window's median lag
#: is at most this much above the first's.
LAG_RISE_S = 0.5
#: "Keeps up": at least this share of the ticks beat was asked to fire were applied.
KEEP_UP_SHARE = 0.95
JUDGED_ROLES = ("daphne", "worker", "beat")
UPDATE_STREAMS = ("trucks", "crushers", "stockpiles")
TICK_PHASES = ("load", "step", "persist", "broadcast")
TICK_TASK_LINE = re.compile(
    r"^ts=(?P<ts>\S+) .*fleet\.tasks\.tick_site_task\[[^\]]+\] succeeded in (?P<runtime>[0-9.eE+-]+)s: "
    r"\{'applied': (?P<applied>True|False), 'reason': '(?P<reason>[^']*)'"
)
EXPIRED_TICK_LINE = re.compile(r"Discarding revoked task: fleet\.tasks\.tick_site_task")
ERROR_LINE = re.compile(r"\b(?:ERROR|CRITICAL)\b|Traceback")
WARNING_LINE = re.compile(r"\bWARNING\b")
PR_SET_PDEATHSIG = 1
LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only calls into it


# --- processes ----------------------------------------------------------------------------------------------


def _stop_with_parent() -> None:
    """In the child before exec: a soak killed outright (kill -9) takes its servers with it."""
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Service:
    """One server process of the soak, its log file and what its log has said so far."""

    name: str
    process: subprocess.Popen
    log_path: Path
    read_bytes: int = 0
    error_lines: int = 0
    warning_lines: int = 0
    error_examples: list[str] = field(default_factory=list)

    def pids(self) -> list[int]:
        """The process and every descendant (the worker's pool children)."""
        return [self.process.pid, *descendants(self.process.pid)]

    def new_lines(self) -> list[str]:
        """Complete lines written since the previous call; error and warning lines are counted on the way."""
        with self.log_path.open("rb") as log:
            log.seek(self.read_bytes)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.read_bytes += len(complete)
        lines = complete.decode(errors="replace").splitlines()
        for line in lines:
            if ERROR_LINE.search(line):
                self.error_lines += 1
                if len(self.error_examples) < 5:
                    self.error_examples.append(line[:300])
            elif WARNING_LINE.search(line):
                self.warning_lines += 1
        return lines


def start_service(name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Service:
    """Start in its own session, so Ctrl-C reaches only the soak, which then stops everything in order."""
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_stop_with_parent,
        )  # fmt: skip
    return Service(name, process, log_path)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended while we looked
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, pending = [], list(children.get(pid, []))
    while pending:
        child = pending.pop()
        found.append(child)
        pending += children.get(child, [])
    return found


def total_rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with suppress(OSError):  # a pool child being replaced
            total += rss_mb(pid)
    return total


def total_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (fields 14 and 15 of /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            text = Path(f"/proc/{pid}/stat").read_text()
            fields = text[text.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def server_commands(*, port: int, workdir: Path) -> dict[str, list[str]]:
    """runsystem's command lines on our port, at INFO (the worker's tick lines), with our beat pid file."""
    from django.conf import settings
    from django.test import override_settings

    from smartmine.management.commands.runsystem import process_commands

    with override_settings(
        API_HOST="127.0.0.1", API_PORT=port, WEBSOCKET_HOST="127.0.0.1", WEBSOCKET_PORT=port,
        CONFIG=dataclasses.replace(settings.CONFIG, log_level="INFO"),
    ):  # fmt: skip
        commands = {name: shlex.split(line) for name, line in process_commands(sys.executable).items()}
    beat = commands["beat"]
    beat[beat.index("--pidfile") + 1] = str(workdir / "beat.pid")
    return {"daphne": commands["web"], "worker": commands["worker"], "beat": beat}


def server_env(*, port: int, redis_url: str, interval_s: float, workdir: Path) -> dict[str, str]:
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smartmine.settings",
        "DATABASE_URL": connection_url(),
        "REDIS_URL": redis_url,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "WEBSOCKET_HOST": "127.0.0.1",
        "WEBSOCKET_PORT": str(port),
        "API_ALLOW_ANONYMOUS_READ": "true",
        "SIMULATION_INTERVAL": str(interval_s),
        "SIMULATION_SPEED": "1",
        "LOG_FILE": "",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "keyvalue",
        "PYTHONUNBUFFERED": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }


# --- measuring ----------------------------------------------------------------------------------------------


@dataclass
class Tick:
    """One tick task as the worker logged it; times in seconds since the soak's ticking began."""

    started_s: float
    duration_s: float
    applied: bool
    reason: str = ""
    lag_s: float | None = None


def read_metrics(path: Path) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of every process's Prometheus metrics, as /metrics would aggregate them."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return [(s.name, s.labels, s.value) for family in registry.collect() for s in family.samples]


def metric_sum(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: Any) -> float:
    """The sum over samples of `name` whose labels match (a tuple value matches any of its members)."""
    total = 0.0
    for sample_name, sample_labels, value in samples:
        if sample_name != name:
            continue
        if all(sample_labels.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in labels.items()):
            total += value
    return total


def system_counters(metrics_dir: Path) -> dict[str, float]:
    samples = read_metrics(metrics_dir)
    return {
        "update_frames_published": metric_sum(
            samples, "smartmine_broadcasts_total", stream=UPDATE_STREAMS, outcome="sent"
        ),
        "broadcasts_failed": metric_sum(samples, "smartmine_broadcasts_total", outcome="failed"),
        "tick_tasks_failed": metric_sum(
            samples,
            "smartmine_celery_tasks_total",
            task="fleet.tasks.tick_site_task",
            outcome=("failure", "retry"),
        ),
        "deltas_dropped_for_slow_clients": metric_sum(
            samples, "smartmine_websocket_messages_total", outcome="dropped"
        ),
        **{
            f"tick_{phase}_{part}": metric_sum(
                samples, f"smartmine_tick_duration_seconds_{part}", phase=phase
            )
            for phase in TICK_PHASES
            for part in ("sum", "count")
        },
    }


class Soak:
    """The measurements of one run: samples every SAMPLE_EVERY_S and every tick the worker logged."""

    def __init__(self, services: dict[str, Service], clients: SoakClients, interval_s: float) -> None:
        self.services, self.clients, self.interval_s = services, clients, interval_s
        self.began_at = 0.0
        self.ticks: list[Tick] = []
        self.expired_firings = 0
        self.samples: list[dict[str, Any]] = []
        self.latencies_ms = array("d")
        self.last_applied_start: float | None = None
        self.memory_readings: list[dict[str, float]] = []
        self.memory_peak_mb: dict[str, float] = {}
        self.errors_in_run: dict[str, int] = {}

    def begin(self, timeout_s: float = 120) -> float:
        """Start the clock at the first applied tick: beat's start-up is not the system falling behind.

        Returns how long that first tick took to come after beat was started.
        """
        self.began_at = time.time()
        deadline = self.began_at + timeout_s
        while not any(tick.applied for tick in self.ticks):
            if time.time() > deadline:
                raise TimeoutError(f"no tick applied within {timeout_s:.0f} s of starting beat")
            time.sleep(0.2)
            self.read_logs()
        shift = next(tick.started_s for tick in self.ticks if tick.applied)
        self.began_at += shift
        self.last_applied_start -= shift
        for tick in self.ticks:
            tick.started_s -= shift
        return shift

    def observe_memory(self) -> None:
        memory = {name: total_rss_mb(service.pids()) for name, service in self.services.items()}
        memory["ws-clients"] = total_rss_mb(self.clients.pids)
        self.memory_readings.append(memory)
        for role, mb in memory.items():
            self.memory_peak_mb[role] = max(mb, self.memory_peak_mb.get(role, 0.0))

    def wait(self, until: float) -> None:
        """Sleep until `until`, reading memory every MEMORY_EVERY_S on the way."""
        while (left := until - time.time()) > 0:
            time.sleep(min(MEMORY_EVERY_S, left))
            self.observe_memory()

    def end_run(self) -> None:
        """What the logs said up to here is the run's; what follows is shutting down."""
        self.read_logs()
        self.errors_in_run = {name: service.error_lines for name, service in self.services.items()}

    def read_logs(self) -> list[Tick]:
        fresh: list[Tick] = []
        for name, service in self.services.items():
            for line in service.new_lines():
                if name != "worker":
                    continue
                if EXPIRED_TICK_LINE.search(line):
                    self.expired_firings += 1
                match = TICK_TASK_LINE.match(line)
                if match is None:
                    continue
                duration = float(match["runtime"])
                started = datetime.fromisoformat(match["ts"]).timestamp() - duration - self.began_at
                tick = Tick(started, duration, match["applied"] == "True", match["reason"])
                if tick.applied:
                    if self.last_applied_start is not None:
                        tick.lag_s = max(0.0, started - self.last_applied_start - self.interval_s)
                    self.last_applied_start = started
                fresh.append(tick)
        self.ticks += fresh
        return fresh

    def poll_clients(self) -> FleetSample:
        seen = self.clients.sample()
        self.latencies_ms.extend(seen.latencies_ms)
        return seen

    def finish_clients(self) -> tuple[FleetSample, list[int]]:
        """The clients' last figures; they close."""
        final, per_client = self.clients.report()
        self.latencies_ms.extend(final.latencies_ms)
        return final, per_client

    def cpu_s(self) -> dict[str, float]:
        used = {name: round(total_cpu_s(service.pids()), 2) for name, service in self.services.items()}
        used["ws-clients"] = round(total_cpu_s(self.clients.pids), 2)
        return used

    def median_memory_mb(self) -> dict[str, float]:
        if not self.memory_readings:
            self.observe_memory()
        readings, self.memory_readings = self.memory_readings, []
        return {role: round(statistics.median(r[role] for r in readings), 1) for role in readings[0]}

    def sample(self, metrics_dir: Path) -> dict[str, Any]:
        """One row of the time series (also printed, so a long run can be watched)."""
        fresh = self.read_logs()
        seen = self.poll_clients()
        applied = [tick for tick in fresh if tick.applied]
        lags = [tick.lag_s for tick in applied if tick.lag_s is not None]
        tick_p50_ms = round(statistics.median(t.duration_s for t in applied) * 1000) if applied else None
        row = {
            "t_s": round(time.time() - self.began_at, 1),
            "rss_mb": self.median_memory_mb(),
            "cpu_s": self.cpu_s(),
            "ticks_applied": sum(tick.applied for tick in self.ticks),
            "tick_p50_ms": tick_p50_ms,
            "lag_max_s": round(max(lags), 3) if lags else None,
            "ws_update_frames": seen.update_frames,
            "ws_p99_ms": round(percentile(list(seen.latencies_ms), 0.99)) if seen.latencies_ms else None,
            "ws_disconnected": seen.disconnected,
            "error_lines": sum(service.error_lines for service in self.services.values()),
            "load_1min": round(os.getloadavg()[0], 2),
            **system_counters(metrics_dir),
        }
        self.samples.append(row)
        memory = " ".join(f"{name} {mb:.0f}" for name, mb in row["rss_mb"].items())
        print(
            f"  {row['t_s']:6.0f} s  ticks {row['ticks_applied']:5d}  tick p50 {tick_p50_ms or '-':>5} ms"
            f"  lag max {row['lag_max_s'] if row['lag_max_s'] is not None else '-':>6} s  RSS MB: {memory}"
            f"  ws p99 {row['ws_p99_ms'] or '-':>5} ms  disconnected {seen.disconnected}"
            f"  error lines {row['error_lines']}  load {row['load_1min']:.1f}",
            flush=True,
        )
        return row


# --- judging ------------------------------------------------------------------------------------------------


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


def judge_memory(
    samples: list[dict[str, Any]], peaks_mb: dict[str, float], duration_s: float
) -> dict[str, dict[str, Any]]:
    warm_up_s = min(WARM_UP_S, 0.4 * duration_s)
    figures = {}
    for role in samples[0]["rss_mb"]:
        series = [(row["t_s"], row["rss_mb"][role]) for row in samples]
        settled = [(t, mb) for t, mb in series if t >= warm_up_s]
        slope_10min = slope_per_s(settled) * 600
        end = series[-1][1]
        limit = max(MEMORY_SLOPE_MB, MEMORY_SLOPE_SHARE * end)
        figures[role] = {
            "start_mb": series[0][1],
            "end_mb": end,
            "max_mb": peaks_mb.get(role, max(mb for _, mb in series)),
            "slope_mb_per_10min": slope_10min,
            "warm_up_s": warm_up_s,
            "limit_mb_per_10min": limit,
            "no_growth": slope_10min < limit if role in JUDGED_ROLES else None,
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


def phase_means_ms(samples: list[dict[str, Any]], duration_s: float, window_s: float) -> dict[str, dict]:
    """Mean of each tick phase over the first and the last window, from the worker's tick histogram."""

    def mean(start: dict[str, float], end: dict[str, float], phase: str) -> float | None:
        count = end[f"tick_{phase}_count"] - start.get(f"tick_{phase}_count", 0.0)
        total = end[f"tick_{phase}_sum"] - start.get(f"tick_{phase}_sum", 0.0)
        return 1000 * total / count if count else None

    first_end = next((row for row in samples if row["t_s"] >= window_s), samples[-1])
    before_last = [row for row in samples if row["t_s"] <= duration_s - window_s]
    last_start = before_last[-1] if before_last else {}
    return {
        "first": {phase: mean({}, first_end, phase) for phase in TICK_PHASES},
        "last": {phase: mean(last_start, samples[-1], phase) for phase in TICK_PHASES},
    }


def cpu_shares(samples: list[dict[str, Any]]) -> dict[str, float]:
    """Each process's CPU use between the first and the last sample, in % of one core (the machine has 2)."""
    first, last = samples[0], samples[-1]
    elapsed = last["t_s"] - first["t_s"]
    if elapsed <= 0:
        return {}
    return {role: 100 * (last["cpu_s"][role] - first["cpu_s"][role]) / elapsed for role in last["cpu_s"]}


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
    summary["verdicts"] = {
        "no memory growth": all(summary["memory"][role]["no_growth"] for role in JUDGED_ROLES),
        "no growing tick lag": summary["lag_s"]["no_growth"],
        "no errors": not any(failures.values()),
        "keeps up with the interval": summary["ticks"]["keeps_up"],
        "every client got every update": summary["websocket"]["complete_clients"] == clients,
        "clean shutdown": not any(at_shutdown.values()),
    }
    return summary


def table_rows(summary: dict[str, Any], interval_s: float) -> list[tuple[str, str, str]]:
    """(figure, value, verdict) rows shared by the printed table and docs/soak.md."""

    def figures(values: dict[str, float | None], keys: tuple[str, ...], form: str, unit: str) -> str:
        return " / ".join("-" if values[k] is None else format(values[k], form) for k in keys) + unit

    def ms(values: dict[str, float | None], keys: tuple[str, ...] = ("p50", "p95", "max")) -> str:
        return figures(values, keys, ",.0f", " ms")

    def seconds(values: dict[str, float | None]) -> str:
        return figures(values, ("p50", "p95", "max"), ".3f", " s")

    def verdict(ok: bool | None) -> str:
        return {True: "yes", False: "**NO**", None: ""}[ok]

    ticks, lag, ws, errors = summary["ticks"], summary["lag_s"], summary["websocket"], summary["errors"]
    skipped = ", ".join(f"{count} {reason}" for reason, count in ticks["skipped"].items()) or "none"
    rows = [
        ("duration (ticking)", f"{summary['duration_s'] / 60:.1f} min", ""),
        ("ticks applied / expected", f"{ticks['applied']:,} / {ticks['expected']:,} (every {interval_s:g} s)",
         verdict(ticks["keeps_up"])),
        ("ticks skipped; firings expired in the queue", f"{skipped}; {ticks['expired_firings']}", ""),
        ("tick duration p50 / p95 / max", ms(ticks["duration_ms"]), ""),
        ("tick lag p50 / p95 / max", seconds(lag), ""),
        ("tick lag trend (least squares)",
         f"{lag['slope_s_per_min']:+.4f} s/min (fitted rise {lag['fitted_rise_s']:+.2f} s over the run)", ""),
        (f"tick lag median, first / last {lag['window_s'] / 60:.1f} min",
         f"{lag['first_window_median_s']:.3f} / {lag['last_window_median_s']:.3f} s",
         verdict(lag["no_growth"])),
        (f"tick {'/'.join(TICK_PHASES)}, first {lag['window_s'] / 60:.1f} min",
         "mean " + ms(summary["tick_phase_means_ms"]["first"], TICK_PHASES),
         ""),
        (f"tick {'/'.join(TICK_PHASES)}, last {lag['window_s'] / 60:.1f} min",
         "mean " + ms(summary["tick_phase_means_ms"]["last"], TICK_PHASES),
         ""),
        ("CPU use, % of one core",
         ", ".join(f"{role} {pct:.0f}" for role, pct in summary["cpu_pct_of_one_core"].items()), ""),
        ("machine load average (1 min) p50 / max",
         f"{summary['load_average_1min']['p50']:.1f} / {summary['load_average_1min']['max']:.1f}", ""),
    ]  # fmt: skip
    for role, memory in summary["memory"].items():
        rows.append(
            (f"RSS {role}: start / end / max; slope after {memory['warm_up_s'] / 60:.1f} min",
             f"{memory['start_mb']:.0f} / {memory['end_mb']:.0f} / {memory['max_mb']:.0f} MB; "
             f"{memory['slope_mb_per_10min']:+.1f} MB/10 min (limit {memory['limit_mb_per_10min']:.1f})",
             verdict(memory["no_growth"]))
        )  # fmt: skip
    rows += [
        ("WS clients connected (attempts refused and retried)",
         f"{ws['connected']:,} / {ws['clients']:,} in {ws['connect_s']:.0f} s "
         f"({ws['connect_attempts_refused']:,})", ""),
        ("WS update frames: completeness (worst client)",
         f"{ws['completeness_pct']:.2f} % ({ws['worst_client_pct']:.2f} %) "
         f"of {ws['update_frames_published']:,.0f}",
         verdict(ws["complete_clients"] == ws["clients"])),
        ("WS latency publish->receipt p50 / p99 / max", ms(ws["latency_ms"], ("p50", "p99", "max")), ""),
        ("WS deltas dropped for slow clients; resync snapshots",
         f"{ws['deltas_dropped_for_slow_clients']:,.0f}; {ws['resync_snapshots']:,}", ""),
        ("WS disconnects", f"{errors['ws_disconnected']:,}", ""),
        ("failed tick tasks; failed broadcasts",
         f"{errors['tick_tasks_failed']:.0f}; {errors['broadcasts_failed']:.0f}", ""),
        ("error lines in logs during the run",
         ", ".join(f"{name} {count}" for name, count in errors["error_lines_by_process"].items()),
         verdict(summary["verdicts"]["no errors"])),
        ("error lines in logs while shutting down",
         ", ".join(f"{name} {count}" for name, count in errors["error_lines_at_shutdown"].items()),
         verdict(summary["verdicts"]["clean shutdown"])),
    ]  # fmt: skip
    return rows


def print_report(summary: dict[str, Any], interval_s: float) -> None:
    print("\n== soak")
    for figure, value, verdict in table_rows(summary, interval_s):
        print(f"{figure:56} {value:64} {verdict.strip('*')}")
    print()
    for name, ok in summary["verdicts"].items():
        print(f"  {name}: {'yes' if ok else 'NO'}")
    if summary["websocket"]["connect_errors"]:
        print("\nWebSocket connect errors:")
        for error in summary["websocket"]["connect_errors"]:
            print(f"  {error}")
    for name, lines in summary["errors"]["examples"].items():
        print(f"\nfirst error lines of {name}:")
        for line in lines:
            print(f"  {line}")


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
        return "?"

    return {
        "cpus": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "memory": first("/proc/meminfo", "MemTotal"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg(),
    }


def docs_section(results: dict[str, Any]) -> str:
    """The "## Soak" section of docs/soak.md: the run, the machine, the table and the verdicts."""
    args, box, summary = results["args"], results["machine"], results["summary"]
    verdicts = "; ".join(f"{name}: {'yes' if ok else '**no**'}" for name, ok in summary["verdicts"].items())
    lines = [
        DOCS_SECTION,
        "",
        f"Latest run: {results['started_at']}, `python -m bench.soak --minutes {args['minutes']:g} "
        f"--trucks {args['trucks']} --clients {args['clients']} --interval {args['interval']:g}`, on "
        f"{box['cpus']} CPUs ({box['cpu']}, {box['memory']}), Python {box['python']}, load average "
        f"{box['load_average_at_start'][0]:.1f} at the start (the machine is shared).",
        "",
        "| figure | value | verdict |",
        "| --- | --- | --- |",
        *(f"| {figure} | {value} | {ok} |" for figure, value, ok in table_rows(summary, args["interval"])),
        "",
        f"Verdicts: {verdicts}.",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def write_docs(section: str) -> None:
    """Replace the "## Soak" section of docs/soak.md (up to the next "## " heading), keeping the rest."""
    text = DOCS_FILE.read_text() if DOCS_FILE.exists() else "# Soak test\n\n"
    start = text.find(f"\n{DOCS_SECTION}\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + ("" if end < 0 else text[end:])
    DOCS_FILE.write_text(text)


# --- the run ------------------------------------------------------------------------------------------------


@contextmanager
def soak_database() -> Iterator[str]:
    """BenchDatabase named `<name>_soak_bench`, so a `make bench` running meanwhile keeps its database."""
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    original = settings_dict["NAME"]
    settings_dict["NAME"] = f"{original}_soak"
    try:
        with BenchDatabase() as name:
            yield name
    finally:
        settings_dict["NAME"] = original


def seed(trucks: int, interval_s: float) -> int:
    """Migrate, seed the soak site in bench_tick's proportions, give it its beat entry; returns its id."""
    from django.core.management import call_command

    from fleet import schedules, seeding

    call_command("migrate", verbosity=0)
    site = seeding.seed_site(
        name=SOAK_SITE, trucks=trucks, loaders=max(1, trucks // 20), crushers=max(1, trucks // 50),
        stockpiles=max(1, trucks // 20),
    ).site  # fmt: skip
    schedules.sync_tick_schedules(interval_s=interval_s)
    return site.pk


def keep_logs(workdir: Path) -> None:
    """Each process's log as bench/results/soak-<process>.log (git ignores *.log), to read after the run."""
    RESULTS_DIR.mkdir(exist_ok=True)
    for log in workdir.glob("*.log"):
        shutil.copyfile(log, RESULTS_DIR / f"soak-{log.name}")


def wait_until_quiet(soak: Soak, timeout_s: float = 60) -> None:
    """After beat stops: until no tick has ended and no client received anything for 3 s."""
    deadline, quiet_since, last = time.monotonic() + timeout_s, time.monotonic(), None
    while time.monotonic() < deadline:
        time.sleep(1)
        state = (len(soak.read_logs()), soak.poll_clients().update_frames)
        if state[0] or state != last:
            quiet_since, last = time.monotonic(), state
        elif time.monotonic() - quiet_since >= 3:
            return


def run(*, minutes: float, trucks: int, clients: int, interval_s: float) -> tuple[dict[str, Any], bool]:
    """Set up, soak, tear down; returns the results and whether the run was cut short by Ctrl-C."""
    setup_django()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    box = machine()
    teardown = ExitStack()
    interrupted, ctrl_c = False, signal.getsignal(signal.SIGINT)
    try:
        workdir = Path(teardown.enter_context(tempfile.TemporaryDirectory(prefix="smartmine-soak-")))
        teardown.callback(keep_logs, workdir)
        teardown.enter_context(soak_database())
        print(f"seeding a site of {trucks:,} trucks in a bench database ...", flush=True)
        site_id = seed(trucks, interval_s)
        redis_port, port = free_port(), free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        env = server_env(port=port, redis_url=redis_url, interval_s=interval_s, workdir=workdir)
        services: dict[str, Service] = {}
        teardown.callback(lambda: [stop(s.process) for s in reversed(services.values())])
        redis_argv = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                      "--appendonly", "no"]  # fmt: skip
        services["redis"] = start_service("redis", redis_argv, env, workdir)
        wait_for_port(redis_port)
        commands = server_commands(port=port, workdir=workdir)
        for name in ("daphne", "worker"):
            services[name] = start_service(name, commands[name], env, workdir)
        wait_for_port(port)
        wait_for_worker(f"worker@{socket.gethostname()}", timeout_s=90, broker_url=redis_url)
        fleet = SoakClients(f"ws://127.0.0.1:{port}/", clients)
        teardown.callback(fleet.close)
        print(f"connecting {clients:,} WebSocket clients in {fleet.processes} processes ...", flush=True)
        connected = fleet.connect()
        soak = Soak(services, fleet, interval_s)
        services["beat"] = start_service("beat", commands["beat"], env, workdir)
        first_tick_s = soak.begin()
        print(
            f"site {site_id}: first tick {first_tick_s:.1f} s after starting beat; "
            f"ticking every {interval_s:g} s for {minutes:g} min (Ctrl-C ends it early):",
            flush=True,
        )
        ends_at = soak.began_at + minutes * 60
        try:
            while (now := time.time()) < ends_at:
                soak.wait(min(now + SAMPLE_EVERY_S, ends_at))
                soak.sample(workdir / "prometheus")
        except KeyboardInterrupt:
            interrupted = True
            print("\ninterrupted: stopping and reporting what was measured", flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # stop in order now: every wait below is bounded
        duration_s = time.time() - soak.began_at
        stop(services["beat"].process)
        wait_until_quiet(soak)
        soak.end_run()
        final, per_client = soak.finish_clients()
        counters = system_counters(workdir / "prometheus")
        for name in ("daphne", "worker", "redis"):
            stop(services[name].process)
        soak.read_logs()
        summary = summarise(soak, duration_s=duration_s, connected=connected, final=final,
                            per_client=per_client, counters=counters, clients=clients)  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave servers or the database
        teardown.close()
        signal.signal(signal.SIGINT, ctrl_c)
    box["load_average_at_end"] = os.getloadavg()
    results = {
        "started_at": started_at,
        "interrupted": interrupted,
        "args": {"minutes": minutes, "trucks": trucks, "clients": clients, "interval": interval_s},
        "machine": box,
        "summary": summary,
        "samples": soak.samples,
        "ticks": [dataclasses.asdict(tick) for tick in soak.ticks],
    }
    return results, interrupted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long beat ticks the site")
    parser.add_argument("--trucks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=500, help="WebSocket clients on the default site")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between ticks (beat entry)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the soak as Ctrl-C does
    try:
        results, interrupted = run(minutes=args.minutes, trucks=args.trucks, clients=args.clients,
                                   interval_s=args.interval)  # fmt: skip
    except KeyboardInterrupt:
        print(
            "\ninterrupted before the soak began: everything stopped, the bench database dropped",
            file=sys.stderr,
        )
        return 130
    print_report(results["summary"], args.interval)
    RESULTS_DIR.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(results, indent=2, default=str))
    written = [str(RESULTS_FILE.relative_to(ROOT)), "bench/results/soak-*.log"]
    if not interrupted:  # a cut-short run is not the figure of record
        write_docs(docs_section(results))
        written.append(str(DOCS_FILE.relative_to(ROOT)))
    print(f"\nwritten: {', '.join(written)}")
    return 130 if interrupted else (0 if all(results["summary"]["verdicts"].values()) else 1)


if __name__ == "__main__":
    sys.exit(main())
