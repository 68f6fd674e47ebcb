"""The soak's measurements while it runs: every tick the worker logged, and a sample every few seconds.

Tick figures come from the worker's own log (Celery's "succeeded in" line of each tick task: exact
duration, and start = end - duration); lag is computed as the system's smartmine_tick_lag_seconds is: the
time since the previous applied tick, minus the interval. The system's own counters (broadcasts, failed
tasks, tick phases) are read from the processes' Prometheus metrics.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from array import array
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import percentile
from bench.soak_clients import FleetSample, SoakClients
from bench.soak_processes import Service, machine_cpu_s, postgres_pids, total_cpu_s, total_rss_mb
from bench.soak_watch import Watch

SAMPLE_EVERY_S = 10.0
#: Memory is read this often and a sample keeps the median: daphne's RSS swings by ~100 MB within a second
#: as 500 clients' frames are buffered and freed, which is noise to a trend.
MEMORY_EVERY_S = 2.0
UPDATE_STREAMS = ("trucks", "crushers", "stockpiles")
TICK_PHASES = ("load", "step", "persist", "broadcast")
#: The parts of persist (fleet.ticking.save_steps), to tell which one grows with the history.
PERSIST_PARTS = ("readings", "units", "events", "history", "hooks", "state")
PERSIST_PHASES = tuple(f"persist.{part}" for part in PERSIST_PARTS)  # their names in the tick histogram
SAMPLED_PHASES = TICK_PHASES + PERSIST_PHASES
TICK_TASK_LINE = re.compile(
    r"^ts=(?P<ts>\S+) .*fleet\.tasks\.tick_site_task\[[^\]]+\] succeeded in (?P<runtime>[0-9.eE+-]+)s: "
    r"\{'applied': (?P<applied>True|False), 'reason': '(?P<reason>[^']*)'"
)
EXPIRED_TICK_LINE = re.compile(r"Discarding revoked task: fleet\.tasks\.tick_site_task")


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
            for phase in SAMPLED_PHASES
            for part in ("sum", "count")
        },
    }


class Soak:
    """The measurements of one run: samples every SAMPLE_EVERY_S and every tick the worker logged."""

    def __init__(
        self, services: dict[str, Service], clients: SoakClients, interval_s: float, watch: Watch | None
    ) -> None:
        self.services, self.clients, self.interval_s = services, clients, interval_s
        self.watch = watch
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
                if self.watch is not None:
                    self.watch.observe_log(name, line)
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
        used["postgres"] = round(total_cpu_s(postgres_pids()), 2)
        used.update({f"machine-{name}": round(value, 2) for name, value in machine_cpu_s().items()})
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
