"""Benchmark: WebSocket fan-out of the live stream to 100 … 2,000 clients at one tick per second.

For each channels-redis layer and each size: one daphne process started the production way (on a bench
database with the default site seeded, and a private Redis so no other process's ticks or groups mix in),
N clients of the project's harness (bench.ws_client) on the default subscription, then real ticks
(fleet.ticking.tick_site) at 1/s from this process, published after commit. Per size: delivery
completeness, p50/p99 latency from publish (right after commit) to receipt, daphne's peak RSS, and the
fan-out throughput of a burst of frames, all beside the minimal `websockets` broadcast server
(bench.ws_baseline) fed the same frames at the same rate with the same harness in the same run.

Goals (with the configured layer; issue 19): at 1,000 clients every client receives every tick, p99 < 250 ms,
daphne memory < 1 GB, fan-out throughput >= 0.5x the baseline's; at 2,000 clients every tick to every
client and p99 < 1 s.
Limit: this machine has 2 cores shared by daphne, Redis, the client processes and the ticking process.
Usage: `python -m bench.bench_ws [--quick]`, or import and call run().
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import ROOT, BenchDatabase, connection_url, percentile, setup_django
from bench.ws_client import BURST_STREAM, BURST_TYPE, UPDATE_TYPES, ClientFleet, ClientRecord
from smartmine.devservices import free_port, wait_for_port

SIZES, QUICK_SIZES = [100, 500, 1000, 2000], [100, 1000]
TICKS, QUICK_TICKS = 30, 10
#: clients -> (p99 goal in ms, throughput goal as a ratio to the baseline, or None): issue 19's goals.
GOALS = {1000: (250.0, 0.5), 2000: (1000.0, None)}
#: Frames sent back to back to measure fan-out throughput (below RedisChannelLayer's capacity of 200).
BURST_FRAMES = 30
LAYERS = {"core": "RedisChannelLayer", "pubsub": "RedisPubSubChannelLayer"}
RSS_GOAL_MB = 1024.0


def client_processes(clients: int) -> int:
    """As few client processes as keep up: they share the 2 cores with daphne and Redis."""
    return 1 if clients <= 500 else 2


# --- processes ----------------------------------------------------------------------------------------------


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def private_redis(port: int | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A throw-away redis-server on 127.0.0.1 (no persistence): never the machine's own Redis."""
    port = port or free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        stop(process)


def start_daphne(port: int, *, redis_url: str, layer: str, db_url: str) -> subprocess.Popen:
    """One daphne process, the production command, on the given database, Redis and channel layer, in the
    calling process's installation (its channel names), which publishes the ticks."""
    from django.conf import settings

    env = {
        **os.environ,
        "INSTALLATION_ID": settings.INSTALLATION_ID,
        "DJANGO_SETTINGS_MODULE": "bench.ws_settings",
        "BENCH_CHANNEL_LAYER": layer,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "API_ALLOW_ANONYMOUS_READ": "true",
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-e", f"tcp:port={port}:interface=127.0.0.1",
         "smartmine.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port)
    return process


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory of a process from /proc (VmHWM: its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- one measured run ---------------------------------------------------------------------------------------


def drive_ticks(publish_tick: Callable[[], int], ticks: int, sample: Callable[[], None]) -> int:
    """Call `publish_tick` once a second `ticks` times; returns how many update frames it published."""
    frames = 0
    started = time.monotonic()
    for number in range(ticks):
        frames += publish_tick()
        sample()
        time.sleep(max(0.0, started + number + 1 - time.monotonic()))
    return frames


def summarise(
    records: list[ClientRecord], clients: int, expected_frames: int, burst_started: float, burst_frames: int
) -> dict[str, float]:
    """Completeness (a client that never connected received nothing), latency and burst throughput."""
    received = [sum(r.counts.get(kind, 0) for kind in UPDATE_TYPES) for r in records]
    received += [0] * (clients - len(records))
    latencies = [latency for r in records for latency in r.latencies_ms]
    burst_received = sum(r.counts.get(BURST_TYPE, 0) for r in records)
    burst_end = max((r.last_burst_at for r in records), default=0.0)
    return {
        "completeness_pct": 100 * sum(received) / (expected_frames * clients),
        "worst_client_pct": 100 * min(received) / expected_frames,
        "complete_clients": sum(count >= expected_frames for count in received),
        "p50_ms": percentile(latencies, 0.50) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "max_ms": max(latencies, default=float("nan")),
        "burst_completeness_pct": 100 * burst_received / (burst_frames * clients),
        "throughput_fps": burst_received / (burst_end - burst_started) if burst_end > burst_started else 0.0,
    }


async def publish_burst(site_id: int, items: list[dict[str, Any]]) -> None:
    """BURST_FRAMES truck-sized frames back to back, through the channel layer as `live.publish` sends."""
    from channels.layers import get_channel_layer

    from smartmine.platform import live

    layer = get_channel_layer()
    stream = BURST_STREAM
    for _ in range(BURST_FRAMES):
        envelope = live.group_message(stream, live.frame(BURST_TYPE, site_id, items))
        await layer.group_send(live.channel_group(stream, site_id), envelope)


def measure_daphne(site_id: int, layer: str, redis_url: str, clients: int, ticks: int) -> dict[str, Any]:
    """Real ticks through daphne + Channels + Redis, then a burst of truck-sized frames."""
    from asgiref.sync import async_to_sync
    from django.test import override_settings

    from bench.ws_settings import channel_layers
    from fleet.ticking import tick_site
    from smartmine.platform import live

    published: dict[str, Any] = {"frames": 0, "updates": {}}
    original_publish = live.publish

    def counting_publish(site: int, updates: dict[str, list]) -> int:
        # the frames clients count: a tick crossing a simulated minute also publishes kpi_update
        published["frames"] += sum(1 for kind, items in updates.items() if items and kind in UPDATE_TYPES)
        published["updates"] = updates
        return original_publish(site, updates)

    port = free_port()
    daphne = start_daphne(port, redis_url=redis_url, layer=layer, db_url=connection_url())
    peak = {"rss_mb": 0.0}

    def sample() -> None:
        peak["rss_mb"] = max(peak["rss_mb"], rss_mb(daphne.pid))

    fleet = ClientFleet(f"ws://127.0.0.1:{port}/", clients, client_processes(clients))
    try:
        with override_settings(CHANNEL_LAYERS=channel_layers(layer, redis_url)):
            connected = fleet.connect()
            sample()
            live.publish = counting_publish
            try:

                def one_tick() -> int:
                    before = published["frames"]
                    tick_site(site_id, dt_s=1.0)
                    return published["frames"] - before

                expected = drive_ticks(one_tick, ticks, sample)
            finally:
                live.publish = original_publish
            time.sleep(2)  # let the last tick arrive everywhere
            burst_started = time.time()
            async_to_sync(publish_burst)(site_id, published["updates"]["truck_update"])
            fleet.wait_for_burst(BURST_FRAMES, timeout_s=120)
            sample()
            records = fleet.report()
        peak["rss_mb"] = max(peak["rss_mb"], rss_mb(daphne.pid, "VmHWM"))
    finally:
        fleet.close()
        stop(daphne)
    frames = {
        kind: live.encode(live.frame(kind, site_id, items)) for kind, items in published["updates"].items()
    }
    return {
        **summarise(records, clients, expected, burst_started, BURST_FRAMES),
        **peak,
        "connected": connected["connected"],
        "connect_s": connected["connect_s"],
        "frame_bytes": {kind: len(text) for kind, text in frames.items()},
        "updates": published["updates"],
    }


def measure_baseline(site_id: int, updates: dict[str, list], clients: int, ticks: int) -> dict[str, Any]:
    """The same frames at the same rate through the minimal `websockets` broadcast server."""
    import websockets

    from smartmine.platform import live

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.ws_baseline", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port)
    peak = {"rss_mb": 0.0}

    def sample() -> None:
        peak["rss_mb"] = max(peak["rss_mb"], rss_mb(server.pid))

    fleet = ClientFleet(f"ws://127.0.0.1:{port}/", clients, client_processes(clients), wait_first_frame=False)

    async def publisher() -> tuple[int, float]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/publish", compression=None) as channel:
            frames_per_tick = [kind for kind, items in updates.items() if items and kind in UPDATE_TYPES]

            async def one_tick() -> int:
                for kind in frames_per_tick:
                    await channel.send(live.encode(live.frame(kind, site_id, updates[kind])))
                return len(frames_per_tick)

            expected, started = 0, time.monotonic()
            for number in range(ticks):
                expected += await one_tick()
                sample()
                await asyncio.sleep(max(0.0, started + number + 1 - time.monotonic()))
            await asyncio.sleep(2)
            burst_started = time.time()
            for _ in range(BURST_FRAMES):
                await channel.send(live.encode(live.frame(BURST_TYPE, site_id, updates["truck_update"])))
            await asyncio.to_thread(fleet.wait_for_burst, BURST_FRAMES, 120)
            return expected, burst_started

    try:
        connected = fleet.connect()
        time.sleep(1)  # the server registers a client after the handshake the client has already seen
        expected, burst_started = asyncio.run(publisher())
        sample()
        records = fleet.report()
        peak["rss_mb"] = max(peak["rss_mb"], rss_mb(server.pid, "VmHWM"))
    finally:
        fleet.close()
        stop(server)
    return {
        **summarise(records, clients, expected, burst_started, BURST_FRAMES),
        **peak,
        "connected": connected["connected"],
        "connect_s": connected["connect_s"],
    }


# --- the section --------------------------------------------------------------------------------------------


def configured_layer() -> str:
    from django.conf import settings

    backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    return "pubsub" if backend.endswith("RedisPubSubChannelLayer") else "core"


def rows_for(server: str, clients: int, figures: dict[str, Any], *, goals: bool, ratio: float | None) -> list:
    p99_goal_ms, ratio_goal = GOALS.get(clients, (None, None))
    goals = goals and p99_goal_ms is not None

    def row(metric: str, value: float, unit: str, low=None, high=None, goal=None, met=None) -> dict:
        judged = {"goal": goal, "met": met} if goals and goal else {"goal": None, "met": None}
        return {"metric": f"ws {server} {clients:,} clients: {metric}", "median": value, "min": low,
                "max": high, "unit": unit, **judged}  # fmt: skip

    rows = [
        row("delivery completeness", figures["completeness_pct"], "%", figures["worst_client_pct"], None,
            "every client every tick", figures["complete_clients"] == clients),
        row("latency p50 commit->receipt", figures["p50_ms"], "ms"),
        row("latency p99 commit->receipt", figures["p99_ms"], "ms", None, figures["max_ms"],
            f"< {p99_goal_ms or 0:,.0f} ms", figures["p99_ms"] < (p99_goal_ms or 0)),
        row("server peak RSS", figures["rss_mb"], "MB", None, None, "< 1 GB",
            figures["rss_mb"] < RSS_GOAL_MB),
        row("fan-out throughput (burst)", figures["throughput_fps"], "frames/s",
            figures["burst_completeness_pct"], None),
    ]  # fmt: skip
    if ratio is not None:
        rows.append(
            row("throughput / websockets baseline", ratio, "x", None, None,
                ratio_goal and f">= {ratio_goal}x", ratio_goal is not None and ratio >= ratio_goal)
        )  # fmt: skip
    return rows


def run(
    quick: bool = False,
    sizes: list[int] | None = None,
    ticks: int | None = None,
    layers: list[str] | None = None,
) -> dict:
    """Every size with both layers and the baseline; `sizes`, `ticks` and `layers` narrow a run."""
    setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from fleet import seeding

    default_sizes, default_ticks = (QUICK_SIZES, QUICK_TICKS) if quick else (SIZES, TICKS)
    sizes, ticks = sizes or default_sizes, ticks or default_ticks
    chosen = configured_layer()
    measured = [layer for layer in LAYERS if layer in (layers or LAYERS) or layer == chosen]
    rows, curve = [], []
    with BenchDatabase(), private_redis() as (redis_url, _):
        call_command("migrate", verbosity=0)
        site = seeding.seed_site(
            trucks=settings.MAX_TRUCKS, crushers=settings.MAX_CRUSHERS, stockpiles=settings.MAX_STOCKPILES
        ).site
        for clients in sizes:
            per_layer = {
                layer: measure_daphne(site.pk, layer, redis_url, clients, ticks) for layer in measured
            }
            baseline = measure_baseline(site.pk, per_layer[chosen]["updates"], clients, ticks)
            for layer, figures in per_layer.items():
                ratio = (
                    figures["throughput_fps"] / baseline["throughput_fps"]
                    if baseline["throughput_fps"]
                    else 0
                )
                rows += rows_for(f"daphne+{LAYERS[layer]}", clients, figures,
                                 goals=layer == chosen, ratio=ratio)  # fmt: skip
                figures.pop("updates")
                curve.append({"server": f"daphne+{LAYERS[layer]}", "clients": clients, **figures})
            rows += rows_for("websockets baseline", clients, baseline, goals=False, ratio=None)
            curve.append({"server": "websockets baseline", "clients": clients, **baseline})
    return {"rows": rows, "curve": curve, "layer": LAYERS[chosen], "ticks": ticks, "cpus": os.cpu_count()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, action="append", help="a size to measure (repeatable)")
    parser.add_argument("--ticks", type=int, help="ticks per size")
    parser.add_argument("--layer", action="append", choices=list(LAYERS), help="also this layer (repeatable)")
    from bench.__main__ import print_table

    arguments = parser.parse_args()
    outcome = run(
        quick=arguments.quick, sizes=arguments.clients, ticks=arguments.ticks, layers=arguments.layer
    )
    print_table("websocket fan-out", outcome["rows"])
    for point in outcome["curve"]:
        print(point)
