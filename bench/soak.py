"""Soak: the real system for half an hour under a big site and many live clients; does anything drift?

Runs on a private bench database and a private Redis: one site of --trucks trucks (loaders, crushers and
stockpiles in bench_tick's proportions), daphne, the Celery workers and Celery beat started with runsystem's
command lines, beat firing the site's tick every --interval seconds through its django-celery-beat entry
(so lag is real lag), and --clients WebSocket clients of bench.ws_client on the default subscription.
Every SAMPLE_EVERY_S it records each process's memory and CPU time, the ticks applied, tick duration and
lag, the clients' frames and latency, disconnects, error lines in the processes' logs and failed ticks; at
the end it judges memory growth, lag growth and errors, prints a table, writes
bench/results/soak-latest.json and rewrites the "## Soak" section of docs/soak.md.

This module sets up, runs and tears down; the pieces are bench.soak_processes (the servers and their
logs), bench.soak_clients (the WebSocket clients), bench.soak_sampling (ticks and samples),
bench.soak_analysis (trends and verdicts) and bench.soak_report (the table and docs/soak.md).
Usage: `python -m bench.soak [--minutes 30] [--trucks 1000] [--clients 500] [--interval 1.0]` (`make soak`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_ws import stop
from bench.common import ROOT, BenchDatabase, setup_django
from bench.soak_analysis import JUDGED_ROLES, judge_memory, stall_figures, summarise
from bench.soak_clients import SoakClients
from bench.soak_processes import WORKER_SERVICES, Service, server_commands, server_env, start_service
from bench.soak_report import (
    DOCS_FILE,
    RESULTS_DIR,
    RESULTS_FILE,
    docs_section,
    machine,
    print_report,
    write_docs,
)
from bench.soak_sampling import SAMPLE_EVERY_S, Soak, system_counters
from bench.soak_watch import Watch
from smartmine.devservices import free_port, wait_for_port
from tests.processes import wait_for_worker

SOAK_SITE = "Soak"


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


def seed(trucks: int, interval_s: float, warm_up_h: float) -> int:
    """Migrate, seed the soak site in bench_tick's proportions, run it for `warm_up_h` simulated hours before
    now, give it its beat entry; returns its id.

    A site just seeded is not a running mine: its trucks start their first haul cycles, and a tick does less
    than it will once the fleet is spread over its cycles. Measured in-process (1,000 trucks, 900 ticks
    back to back): from a cold start every phase rose 16-34 % over 15 min, from a site warmed up for 30 min
    it ended within 2 %. The soak compares its first and last minutes, so both must be the same work."""
    from django.core.management import call_command

    from fleet import schedules, seeding

    call_command("migrate", verbosity=0)
    site = seeding.seed_site(
        name=SOAK_SITE, trucks=trucks, loaders=max(1, trucks // 20), crushers=max(1, trucks // 50),
        stockpiles=max(1, trucks // 20),
    ).site  # fmt: skip
    if warm_up_h > 0:
        call_command("simulate", site=SOAK_SITE, hours=warm_up_h, stdout=sys.stdout)
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


def run(
    *, minutes: float, trucks: int, clients: int, interval_s: float, warm_up_h: float
) -> tuple[dict[str, Any], bool]:
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
        print(f"seeding a site of {trucks:,} trucks, {warm_up_h:g} h simulated, in a bench database ...")
        site_id = seed(trucks, interval_s, warm_up_h)
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
        # The tick worker logs Celery's line per task, and beat each firing, at LOG_LEVEL=DEBUG (`-l INFO`
        # keeps the rest).
        worker_env = {**env, "LOG_LEVEL": "DEBUG"}
        for name in ("daphne", *WORKER_SERVICES):
            services[name] = start_service(
                name, commands[name], worker_env if name == "worker" else env, workdir
            )
        wait_for_port(port)
        wait_for_worker(f"worker-ticks@{socket.gethostname()}", timeout_s=90, broker_url=redis_url)
        fleet = SoakClients(f"ws://127.0.0.1:{port}/", clients)
        teardown.callback(fleet.close)
        print(f"connecting {clients:,} WebSocket clients in {fleet.processes} processes ...", flush=True)
        connected = fleet.connect()
        watch = Watch(env["DATABASE_URL"], lambda: services["worker"].pids()[1:])
        watch.start()
        teardown.callback(watch.stop)
        soak = Soak(services, fleet, interval_s, watch)
        services["beat"] = start_service("beat", commands["beat"], worker_env, workdir)  # its firings too
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
        watch.stop()
        wait_until_quiet(soak)
        soak.end_run()
        final, per_client = soak.finish_clients()
        counters = system_counters(workdir / "prometheus")
        for name in ("daphne", *WORKER_SERVICES, "redis"):
            stop(services[name].process)
        soak.read_logs()
        summary = summarise(soak, duration_s=duration_s, connected=connected, final=final,
                            per_client=per_client, counters=counters, clients=clients)  # fmt: skip
        summary["stalls"] = stall_figures(soak, watch)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave servers or the database
        teardown.close()
        signal.signal(signal.SIGINT, ctrl_c)
    box["load_average_at_end"] = os.getloadavg()
    results = {
        "started_at": started_at,
        "interrupted": interrupted,
        "args": {
            "minutes": minutes,
            "trucks": trucks,
            "clients": clients,
            "interval": interval_s,
            "warm_up_hours": warm_up_h,
        },
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
    parser.add_argument(
        "--warm-up-hours", type=float, default=1.0, help="simulated hours the site runs first (0: none)"
    )
    parser.add_argument(
        "--rejudge",
        action="store_true",
        help="judge the last run again (bench/results/soak-latest.json) with this code's rules, no new run",
    )
    args = parser.parse_args(argv)
    if args.rejudge:
        return rejudge()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the soak as Ctrl-C does
    try:
        results, interrupted = run(minutes=args.minutes, trucks=args.trucks, clients=args.clients,
                                   interval_s=args.interval, warm_up_h=args.warm_up_hours)  # fmt: skip
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


def rejudge() -> int:
    """The memory verdicts of the last run recomputed from its samples (after a change of the rule)."""
    results = json.loads(RESULTS_FILE.read_text())
    summary = results["summary"]
    peaks = {role: figures["max_mb"] for role, figures in summary["memory"].items()}
    summary["memory"] = judge_memory(results["samples"], peaks, summary["duration_s"])
    summary["verdicts"]["no memory growth"] = all(summary["memory"][r]["no_growth"] for r in JUDGED_ROLES)
    print_report(summary, results["args"]["interval"])
    RESULTS_FILE.write_text(json.dumps(results, indent=2, default=str))
    if not results["interrupted"]:
        write_docs(docs_section(results))
    return 0 if all(summary["verdicts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
