"""Benchmark: telemetry through Mosquitto into PostgreSQL with two `ingest_mqtt` processes, against the raw
binary COPY rate measured in the same run, and publish -> live frame latency at a steady rate.

Runs in its own database (`<DATABASE NAME>_bench`) and its own Mosquitto (var of a temporary directory, a
port in 18883-18889). 1,000 trucks publish QoS 1 messages of 10 readings each as fast as one paho client
goes; the figure is readings stored per second from the first publish to the last reading committed.
Latency: messages of one reading at a steady rate; for each, the time from publish to the first frame on
the live channel layer group (what the WebSocket consumer forwards) that shows the unit at that reading or
a later one (a frame carries each unit's newest state, so one frame answers every reading it covers), p99.
Goals (issue 21): >= 50,000 readings/s with two ingest processes and >= 0.5x raw COPY; p99 < 1 s at
10,000 readings/s. Usage: `python bench/bench_mqtt.py [--quick]`, or import and call run().
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

from bench.bench_ingest import _frame, _row, _time_raw_copy  # noqa: E402
from bench.common import BenchDatabase, percentile, setup_django, stats  # noqa: E402

TRUCKS = 1000
PER_MESSAGE = 10
GATEWAY = ("bench-gateway", "bench-token")


def _trucks(site) -> dict[int, str]:
    """1,000 trucks on the site (copies of a seeded one): pk -> name."""
    from fleet.models import Truck

    template = Truck.objects.filter(site=site).first()
    fields = {
        field.attname: getattr(template, field.attname)
        for field in Truck._meta.concrete_fields
        if field.attname not in {"id", "name"}
    }
    existing = Truck.objects.filter(site=site).count()
    Truck.objects.bulk_create(Truck(**fields, name=f"MQ-{n:04d}") for n in range(TRUCKS - existing))
    return dict(Truck.objects.filter(site=site).values_list("pk", "name"))


def _payloads(names: list[str], slug: str, readings: int, start: dt.datetime) -> list[tuple[str, bytes]]:
    """(topic, payload) messages of PER_MESSAGE readings, each truck one reading a second."""
    from fleet.sim.schema import SENSORS

    values = {name: min(sensor.maximum, 500.0) / 2 for name, sensor in SENSORS["truck"].items()}
    messages = []
    per_truck = readings // len(names)
    for first in range(0, per_truck, PER_MESSAGE):
        for name in names:
            rows = [
                {"ts": (start + dt.timedelta(seconds=i)).isoformat(), "status": "hauling", **values}
                for i in range(first, min(first + PER_MESSAGE, per_truck))
            ]
            messages.append((f"smartmine/{slug}/truck/{name}/telemetry", json.dumps(rows).encode()))
    return messages


def _stored() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM fleet_truckreading")
        return cursor.fetchone()[0]


def _ingest_processes(broker, count: int) -> list[subprocess.Popen]:
    """`count` ingest processes on the bench database, each subscribed when this returns (messages
    published before the shared subscription exists would go nowhere)."""
    from tests.processes import ingest_mqtt

    return [
        ingest_mqtt(broker, "--name", f"bench-{n}", "--batch-ms", "200", LOG_LEVEL="INFO")
        for n in range(1, count + 1)
    ]


def _sustained(client, messages: list[tuple[str, bytes]], readings: int) -> float:
    started = time.perf_counter()
    sent = []
    for topic, payload in messages:
        info = client.publish(topic, payload, qos=1)
        if info.rc:
            raise RuntimeError(f"publish refused: {info.rc}")
        sent.append(info)
        if len(sent) > 2000:  # a bounded window of unacknowledged messages, as a gateway keeps
            sent.pop(0).wait_for_publish(60)
    for info in sent:
        info.wait_for_publish(60)
    deadline = time.monotonic() + 600
    while _stored() < readings and time.monotonic() < deadline:
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    if _stored() < readings:
        raise RuntimeError(f"only {_stored()} of {readings} readings stored in 600 s")
    return readings / elapsed


def _latency(client, site_id: int, slug: str, names: list[str], rate: int, seconds: float) -> list[float]:
    """Publish one-reading messages at `rate` a second; seconds from publish to the unit's live frame."""
    from channels.layers import get_channel_layer

    from smartmine.platform import live

    sent: dict[str, list[tuple[float, float]]] = {}  # truck -> (engine hours, publish time), in order
    latencies: list[float] = []
    guard = threading.Lock()
    ready, stop = threading.Event(), threading.Event()

    async def listen() -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(live.channel_group("trucks", site_id), channel)
        ready.set()
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(layer.receive(channel), 1)
            except TimeoutError:
                continue
            arrived = time.time()
            for item in json.loads(message["text"])["data"]:
                shown = item.get("engine_hours")  # loaders ride along: never in `sent`
                with guard:
                    waiting = sent.get(item["name"], [])
                    while waiting and shown is not None and waiting[0][0] <= shown:
                        latencies.append(arrived - waiting.pop(0)[1])

    listener = threading.Thread(target=asyncio.run, args=(listen(),))
    listener.start()
    ready.wait(10)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    interval = 1 / rate
    began = time.perf_counter()
    for n in range(int(rate * seconds)):
        name = names[n % len(names)]
        at = start + dt.timedelta(seconds=n // len(names))
        row = {"ts": at.isoformat().replace("+00:00", "Z"), "status": "hauling", "lat": -22.3, "lon": 118.6,
               "heading_deg": 1, "speed_kmh": 1, "payload_t": 1, "fuel_l": 100, "engine_temp_c": 80,
               "tyre_pressure_kpa": 700, "vibration_mm_s": 1, "engine_hours": float(n),
               "health": 90}  # fmt: skip
        with guard:
            sent.setdefault(name, []).append((float(n), time.time()))
        client.publish(f"smartmine/{slug}/truck/{name}/telemetry", json.dumps(row), qos=1)
        delay = began + (n + 1) * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    time.sleep(3)
    stop.set()
    listener.join(10)
    return latencies


def run(quick: bool = False) -> dict:
    setup_django()
    from django.core.management import call_command

    from fleet.seeding import seed_site
    from smartmine.mqttbroker import Gateway
    from smartmine.platform.mqtt import Broker, connected
    from tests.processes import private_mosquitto

    readings = 100_000 if quick else 300_000
    latency_rate, latency_s = 10_000, (5 if quick else 15)
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    with BenchDatabase() as database, tempfile.TemporaryDirectory() as tmp:
        call_command("migrate", verbosity=0)
        site = seed_site(name="Bench pit", trucks=50, crushers=3, stockpiles=4).site
        trucks = _trucks(site)
        names = sorted(trucks.values())
        frame = _frame(sorted(trucks), 100_000, start - dt.timedelta(days=1))
        from fleet.readings import history, ingest_readings

        ingest_readings("truck", frame.iloc[:1000])  # partitions and caches
        columns = history("truck").copy_columns
        ts = frame["ts"].dt.to_pydatetime().tolist()
        sensors = (frame[name].tolist() for name in columns[3:])
        tuples = list(
            zip(frame["equipment_id"].tolist(), ts, frame["status"].tolist(), *sensors, strict=True)
        )
        raw = [_time_raw_copy(tuples, columns) for _ in range(3)]
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE fleet_truckreading")
        messages = _payloads(names, site.slug, readings, start)
        gateway = Gateway(*GATEWAY, (site.slug,))
        with private_mosquitto(Path(tmp), [gateway]) as broker:
            processes = _ingest_processes(broker, 2)
            try:
                client = connected(Broker(broker.host, broker.port, *GATEWAY), max_inflight=1000)
                rate = _sustained(client, messages, readings)
                latencies = _latency(client, site.pk, site.slug, names, latency_rate, latency_s)
                client.disconnect()
                client.loop_stop()
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(30)

    raw_rate = statistics.median(raw)
    p99 = percentile(latencies, 0.99) if latencies else None
    results = {
        "database": database,
        "readings": readings,
        "mqtt_readings_per_s": rate,
        "raw_copy_readings_per_s": stats(raw),
        "ratio": rate / raw_rate,
        "latency_frames": len(latencies),
        "latency_sent": int(latency_rate * latency_s),
        "latency_p50_s": percentile(latencies, 0.5) if latencies else None,
        "latency_p99_s": p99,
    }
    print(json.dumps(results, indent=1, default=str))
    results["rows"] = [
        _row(
            f"MQTT QoS 1 -> 2 ingest processes, {readings:,} readings",
            rate,
            "readings/s",
            ">= 50,000",
            50_000,
        ),
        _row("raw psycopg binary COPY, same run", results["raw_copy_readings_per_s"], "readings/s"),
        _row("MQTT ingest / raw COPY", results["ratio"], "x", ">= 0.5", 0.5),
        {
            "metric": f"publish -> live frame p99 at {latency_rate:,}/s ({len(latencies):,} of "
            f"{results['latency_sent']:,} matched)",
            "median": p99,
            "min": results["latency_p50_s"],
            "max": None,
            "unit": "s",
            "goal": "< 1 s",
            "met": p99 is not None and p99 < 1 and len(latencies) >= 0.9 * results["latency_sent"],
        },
    ]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer readings (smoke run)")
    run(quick=parser.parse_args().quick)
