"""The soak's server processes: started with runsystem's command lines, each with its own log; memory and CPU.

A server is started in its own session (Ctrl-C reaches only the soak, which stops everything in order) and
dies with the soak if the soak is killed outright. Its log is read incrementally, counting error and
warning lines on the way.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import re
import shlex
import signal
import subprocess
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from bench.bench_ws import rss_mb
from bench.common import ROOT, connection_url

ERROR_LINE = re.compile(r"\b(?:ERROR|CRITICAL)\b|Traceback")
WARNING_LINE = re.compile(r"\bWARNING\b")
PR_SET_PDEATHSIG = 1
#: The soak's workers, as `make run` starts them; "worker" serves the tick queue.
WORKER_SERVICES = ("worker", "worker-periodic", "worker-batch")
LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only calls into it


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
    """User + system CPU seconds the processes and their exited children have used so far (fields 14-17 of
    /proc/<pid>/stat). A child's time moves to its parent when it is reaped, so the total never falls when a
    PostgreSQL backend or a pool child ends: without it, PostgreSQL's backends per request left 22 s of
    566 s in view."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            text = Path(f"/proc/{pid}/stat").read_text()
            fields = text[text.rindex(")") + 2 :].split()
            total += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return total / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on the machine: the soak's backends, and the checkpointer, WAL writer and
    autovacuum that its writes set to work (the machine's server is shared, so others' work counts too)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with suppress(OSError):
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
    return pids


#: The fields of /proc/stat's "cpu" line, in order.
PROC_STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_cpu_s() -> dict[str, float]:
    """The whole machine's CPU seconds so far: busy (user, nice, system, irq, softirq), iowait, steal (time
    the hypervisor gave to another guest) and idle, summed over its CPUs."""
    line = Path("/proc/stat").read_text().splitlines()[0].split()
    ticks = dict(zip(PROC_STAT_FIELDS, map(int, line[1 : 1 + len(PROC_STAT_FIELDS)]), strict=False))
    busy = sum(ticks.get(name, 0) for name in ("user", "nice", "system", "irq", "softirq"))
    seconds = {"busy": busy, "iowait": ticks.get("iowait", 0), "steal": ticks.get("steal", 0),
               "idle": ticks.get("idle", 0)}  # fmt: skip
    return {name: value / os.sysconf("SC_CLK_TCK") for name, value in seconds.items()}


def server_commands(*, port: int, workdir: Path) -> dict[str, list[str]]:
    """runsystem's command lines on our port, at INFO (the tick worker's lines), with our beat pid file."""
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
    # "worker" is the tick worker (the soak reads the ticks from its log); the others run as make run does.
    workers = {"worker": commands["worker-ticks"], "worker-periodic": commands["worker-periodic"],
               "worker-batch": commands["worker-batch"]}  # fmt: skip
    return {"daphne": commands["web"], **workers, "beat": beat}


def server_env(*, port: int, redis_url: str, interval_s: float, workdir: Path) -> dict[str, str]:
    from django.conf import settings

    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir()
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smartmine.settings",
        "DATABASE_URL": connection_url(),
        "REDIS_URL": redis_url,
        # The bench database's URL would derive another namespace than this process's: the soak's pings and
        # the servers' control messages must meet (the Redis is private anyway).
        "INSTALLATION_ID": settings.INSTALLATION_ID,
        # The soak measures the twin's steady state; the first start's model bootstrap (minutes of training
        # on the batch worker) is measured by bench_bootstrap.
        "ML_BOOTSTRAP": "false",
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
