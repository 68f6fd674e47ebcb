"""What the machine, the database and the tick path were doing every half second of a soak.

A soak that loses ticks must say why. A gap between applied ticks has few possible causes, and each leaves
its own trace here:

- the whole machine stopped (a host pause, CPU steal): the watcher itself wakes late (`overshoot_s`), and
  `/proc/stat` counts steal time;
- the disk stalled (a checkpoint's sync phase, dirty-page writeback): I/O pressure (`/proc/pressure/io`)
  and iowait rise, and the checkpointer waits on `DataFileSync`;
- beat did not fire: no "Sending due task" line for the site's tick in the gap;
- the broker or the tick worker's main process did not deliver: beat fired, no "received" line followed;
- the tick was slow or waited: a backend of the bench database held a transaction or waited on a lock.

`explain_gaps` joins these per gap. The tick worker's pool children are sampled one by one (RSS and CPU),
so a step in the worker's memory can be pinned to the child that took it and the moment it did.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

WATCH_EVERY_S = 0.5
#: An applied tick this much later than its interval after the previous one is a gap worth explaining.
GAP_S = 2.0
#: Backends of the bench database worth recording: waiting on a lock or on I/O, or in a long transaction.
BACKENDS_SQL = """
select pid, coalesce(backend_type, ''), coalesce(state, ''), coalesce(wait_event_type, ''),
       coalesce(wait_event, ''), extract(epoch from now() - xact_start), left(query, 60)
  from pg_stat_activity
 where pid <> pg_backend_pid()
   and (backend_type = 'checkpointer' and wait_event is not null and wait_event <> 'CheckpointerMain'
        or datname = current_database()
           and (wait_event_type in ('Lock', 'LWLock', 'IO') or now() - xact_start > interval '1 second'))
"""
BEAT_TICK_SENT = re.compile(r"^ts=(\S+) .*Sending due task .*fleet\.tasks\.tick_site_task")
WORKER_TICK_RECEIVED = re.compile(r"^ts=(\S+) .*fleet\.tasks\.tick_site_task\[[^\]]+\] received")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 1e6
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def line_time(pattern: re.Pattern, line: str) -> float | None:
    """The epoch time of a keyvalue log line matching `pattern`, or None."""
    match = pattern.match(line)
    return datetime.fromisoformat(match[1]).timestamp() if match else None


def _cpu_jiffies() -> dict[str, int]:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) for name, value in zip(names, fields, strict=False)}


def _pressure_total_us(resource: str) -> int:
    """The 'some' stall total of /proc/pressure/<resource> in microseconds (0 where PSI is absent)."""
    with suppress(OSError, ValueError, IndexError):
        first = Path(f"/proc/pressure/{resource}").read_text().split("\n", 1)[0]
        return int(first.rsplit("total=", 1)[1])
    return 0


def _process(pid: int) -> tuple[float, float] | None:
    """(RSS MB, CPU seconds) of one process, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return resident * PAGE_MB, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Moment:
    """One look, `WATCH_EVERY_S` after the previous one."""

    t: float
    overshoot_s: float
    steal_share: float
    iowait_share: float
    io_pressure_share: float
    cpu_pressure_share: float
    backends: list[tuple] = field(default_factory=list)
    children: dict[int, tuple[float, float]] = field(default_factory=dict)


class Watch(threading.Thread):
    """Samples the machine, the bench database's backends and the tick worker's children until stopped."""

    def __init__(self, database_url: str, worker_children) -> None:
        super().__init__(name="soak-watch", daemon=True)
        self.database_url, self.worker_children = database_url, worker_children
        self.moments: list[Moment] = []
        self.beat_sends: list[float] = []
        self.worker_receipts: list[float] = []
        self.errors: Counter[str] = Counter()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)

    def observe_log(self, service: str, line: str) -> None:
        """Beat's firings and the tick worker's receipts of the tick task, from the soak's log reader."""
        if service == "beat" and (at := line_time(BEAT_TICK_SENT, line)) is not None:
            self.beat_sends.append(at)
        elif service == "worker" and (at := line_time(WORKER_TICK_RECEIVED, line)) is not None:
            self.worker_receipts.append(at)

    def run(self) -> None:
        import psycopg

        connection = None
        jiffies, io_us, cpu_us = _cpu_jiffies(), _pressure_total_us("io"), _pressure_total_us("cpu")
        last = time.monotonic()
        while not self._stopping.wait(WATCH_EVERY_S):
            now = time.monotonic()
            elapsed, last = now - last, now
            fresh, fresh_io, fresh_cpu = _cpu_jiffies(), _pressure_total_us("io"), _pressure_total_us("cpu")
            spent = max(1, sum(fresh.values()) - sum(jiffies.values()))
            moment = Moment(
                t=time.time(),
                overshoot_s=max(0.0, elapsed - WATCH_EVERY_S),
                steal_share=(fresh.get("steal", 0) - jiffies.get("steal", 0)) / spent,
                iowait_share=(fresh["iowait"] - jiffies["iowait"]) / spent,
                io_pressure_share=(fresh_io - io_us) / 1e6 / elapsed,
                cpu_pressure_share=(fresh_cpu - cpu_us) / 1e6 / elapsed,
            )
            jiffies, io_us, cpu_us = fresh, fresh_io, fresh_cpu
            for pid in self.worker_children():
                if (figures := _process(pid)) is not None:
                    moment.children[pid] = figures
            try:
                if connection is None:
                    connection = psycopg.connect(self.database_url, autocommit=True, connect_timeout=2)
                    connection.execute("set statement_timeout = '2s'")
                moment.backends = connection.execute(BACKENDS_SQL).fetchall()
            except psycopg.Error as error:
                self.errors[type(error).__name__] += 1
                with suppress(Exception):
                    connection.close()
                connection = None
            self.moments.append(moment)
        if connection is not None:
            connection.close()


def _describe_backends(moments: list[Moment]) -> list[str]:
    """The waits seen in these moments, most frequent first ('IO/WALSync: commit x4')."""
    seen: Counter[str] = Counter()
    for moment in moments:
        for _pid, backend_type, state, wait_type, wait_event, xact_age, query in moment.backends:
            if backend_type == "checkpointer":
                seen[f"checkpointer {wait_type}/{wait_event}"] += 1
            elif wait_type in ("Lock", "LWLock", "IO"):
                seen[f"{wait_type}/{wait_event}: {query.strip()[:40]}"] += 1
            elif xact_age and xact_age > 1:
                seen[f"{state} in a {xact_age:.0f} s transaction: {query.strip()[:40]}"] += 1
    return [f"{what} x{count}" for what, count in seen.most_common(4)]


def explain_gaps(applied_starts: list[float], interval_s: float, watch: Watch) -> list[dict[str, Any]]:
    """For each gap between applied ticks (epoch start times): what each possible cause left in it."""
    gaps = []
    for previous, start in itertools.pairwise(applied_starts):
        if start - previous - interval_s < GAP_S:
            continue
        low, high = previous + interval_s * 0.5, start - interval_s * 0.5  # firings of neither tick
        inside = [m for m in watch.moments if low <= m.t <= high + WATCH_EVERY_S]
        expected = (high - low) / interval_s
        gaps.append(
            {
                "from_epoch": previous,
                "seconds": round(start - previous, 2),
                "beat_fired": sum(low <= t <= high for t in watch.beat_sends),
                "worker_received": sum(low <= t <= high for t in watch.worker_receipts),
                "firings_expected": round(expected),
                "watcher_late_max_s": round(max((m.overshoot_s for m in inside), default=0.0), 2),
                "steal_max": round(max((m.steal_share for m in inside), default=0.0), 2),
                "iowait_max": round(max((m.iowait_share for m in inside), default=0.0), 2),
                "io_pressure_max": round(max((m.io_pressure_share for m in inside), default=0.0), 2),
                "cpu_pressure_max": round(max((m.cpu_pressure_share for m in inside), default=0.0), 2),
                "database": _describe_backends(inside),
                "cause": _likely_cause(inside, watch, low, high, expected),
            }
        )
    return gaps


def _likely_cause(inside: list[Moment], watch: Watch, low: float, high: float, expected: float) -> str:
    fired = sum(low <= t <= high for t in watch.beat_sends)
    received = sum(low <= t <= high for t in watch.worker_receipts)
    if any(m.overshoot_s > 1.0 for m in inside) or any(m.steal_share > 0.5 for m in inside):
        return "the machine stalled (the watcher itself woke late, or the host stole the CPU)"
    if fired < expected * 0.5:
        io = max((m.io_pressure_share for m in inside), default=0.0)
        return f"beat did not fire (I/O pressure up to {io:.0%})"
    if received < fired * 0.5:
        return "beat fired but the tick worker did not receive (broker or the worker's main process)"
    if any(m.backends for m in inside):
        return "the tick waited in the database"
    return "the tick worker received the firings but did not apply them (pool busy or site locked)"


def children_steps(watch: Watch, min_step_mb: float = 5.0) -> list[dict[str, Any]]:
    """Each rise of a tick-worker child's RSS by at least `min_step_mb` between two looks, with its time."""
    steps, last_rss = [], {}
    for moment in watch.moments:
        for pid, (rss, cpu) in moment.children.items():
            if pid in last_rss and rss - last_rss[pid] >= min_step_mb:
                steps.append({"epoch": moment.t, "pid": pid, "rise_mb": round(rss - last_rss[pid], 1),
                              "rss_mb": round(rss, 1), "cpu_s": round(cpu, 1)})  # fmt: skip
            last_rss[pid] = rss
    return steps


def children_summary(watch: Watch) -> dict[int, dict[str, float]]:
    """Per tick-worker child: first and last RSS and CPU seen, so one can tell which child did the work."""
    first: dict[int, tuple[float, float]] = {}
    final: dict[int, tuple[float, float]] = {}
    for moment in watch.moments:
        for pid, figures in moment.children.items():
            first.setdefault(pid, figures)
            final[pid] = figures
    return {
        pid: {
            "rss_first_mb": round(first[pid][0], 1),
            "rss_last_mb": round(final[pid][0], 1),
            "cpu_s": round(final[pid][1] - first[pid][1], 1),
        }
        for pid in final
    }
