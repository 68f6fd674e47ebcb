"""Benchmark: telemetry through Mosquitto into PostgreSQL with two `ingest_mqtt` processes, against the raw
binary COPY rate measured in the same run, and publish -> live frame latency at a steady rate.

Runs in its own database (`<DATABASE NAME>_bench`) and its own Mosquitto (var of a temporary directory, a
port in 18883-18889). 1,000 trucks publish QoS 1 messages of 10 readings each as fast as the load generator
(bench/mqtt_load.py: packets encoded beforehand, one socket, a window of 2,000 unacknowledged) goes; the
figure is readings stored per second from the first publish to the last reading committed, with the CPU a
reading of the ingest processes, the publisher, the broker and PostgreSQL, and the readings a committed batch
held. The wait for the last commit reads the ingest processes' own metrics, not the table (counting a growing
history twenty times a second cost PostgreSQL more CPU than the ingest it measured). Every round's readings
are later than all the bench stored before, as a live unit's are (older ones skip the KPI ledger and the
equipment state). Three more rounds send a truck's minute in a message (60 readings); one more publishes
with paho, whose own CPU (about 10 us a reading) comes out of the same 2 cores. A floor row adds what any
ingest through this client costs at least (a bare paho subscriber, the broker, raw COPY and the publisher)
and sets it against what 2 cores allow at 0.5x raw COPY. The rounds and their CPU accounting are in
bench/mqtt_rounds.py; this module runs them in order and reports.
Latency: messages of one reading at a steady rate; for each, the time from publish to the first frame on
the live channel layer group (what the WebSocket consumer forwards) that shows the unit at that reading or
a later one (a frame carries each unit's newest state, so one frame answers every reading it covers), p99.
Beside raw COPY, the ingestion function alone (bench/ingest_alone.py: `ingest_messages` in this process, no
MQTT) and the CPU a reading of both, split into the process's own and its PostgreSQL backend's.
Then, on the same broker and processes, the resilience scenarios of bench/mqtt_resilience.py (a database
outage, an ingest process killed mid-publish: each acknowledged reading stored exactly once).
Goals (issue 21): >= 50,000 readings/s with two ingest processes and >= 0.5x raw COPY; p99 < 1 s at
10,000 readings/s. Usage: `python bench/bench_mqtt.py [--quick]`, or import and call run().
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
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

from bench import ingest_alone, mqtt_resilience  # noqa: E402
from bench.bench_ingest import _frame, _row, _time_raw_copy  # noqa: E402
from bench.common import BenchDatabase, percentile, setup_django, stats  # noqa: E402
from bench.mqtt_common import (  # noqa: E402
    GATEWAY,
    HEALTHY,
    TRUCKS,
    empty_history,
    payloads,
    settle,
    site_trucks,
)
from bench.mqtt_rounds import (  # noqa: E402
    Watched,
    bare_subscriber,
    cpu_floor,
    sustained_paho,
    sustained_raw,
)

#: One more round with a truck's minute in a message (a gateway batching at 1 Hz): what per-message costs
#: (paho's receive path and acknowledgement, about 140 us of CPU a message) weigh against per-reading ones.
MINUTE_PER_MESSAGE = 60
#: The latency run's messages: at 10,000 readings/s, each of the 1,000 trucks' gateways publishes its
#: last second (10 readings at 10 Hz) once a second.
LATENCY_PER_MESSAGE = 10
#: Sustained rounds (median, min, max): one round on this shared machine moves by a third between runs.
ROUNDS = 3


def _ingest_processes(broker, count: int, metrics_dir: Path, committers: int) -> list[subprocess.Popen]:
    """`count` ingest processes on the bench database, each subscribed when this returns (messages
    published before the shared subscription exists would go nowhere); their metrics in `metrics_dir`."""
    from tests.processes import ingest_mqtt

    metrics_dir.mkdir(exist_ok=True)
    return [
        ingest_mqtt(
            broker, "--name", f"bench-{n}", "--batch-ms", "200", "--committers", str(committers),
            LOG_LEVEL="INFO",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        for n in range(1, count + 1)
    ]  # fmt: skip


def _latency(
    client, site_id: int, slug: str, names: list[str], rate: int, seconds: float, per_message: int
) -> list[float]:
    """Publish `rate` readings a second, `per_message` of one truck a message (the trucks in turn, readings
    of the last `seconds`); for each message, seconds from its publish to the first live frame showing the
    truck at its last reading or a later one."""
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
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=seconds)
    per_truck_hz = rate / len(names)
    messages = int(rate * seconds / per_message)
    began = time.perf_counter()
    for n in range(messages):
        name = names[n % len(names)]
        first = n // len(names) * per_message  # this truck's reading number
        rows = [
            {"ts": (start + dt.timedelta(seconds=j / per_truck_hz)).isoformat().replace("+00:00", "Z"),
             "status": "hauling", **HEALTHY, "engine_hours": float(j)}
            for j in range(first, first + per_message)
        ]  # fmt: skip
        with guard:
            sent.setdefault(name, []).append((float(first + per_message - 1), time.time()))
        body = rows[0] if per_message == 1 else rows
        client.publish(f"smartmine/{slug}/truck/{name}/telemetry", json.dumps(body), qos=1)
        delay = began + (n + 1) * per_message / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(sent.values()):
        time.sleep(0.2)
    stop.set()
    listener.join(10)
    return latencies


def run(quick: bool = False, outage_s: float = 30, committers: int = 2) -> dict:
    setup_django()
    from django.core.management import call_command

    from fleet.seeding import seed_site
    from smartmine import mqttbroker
    from smartmine.mqttbroker import Gateway
    from smartmine.platform.mqtt import Broker, connected
    from tests.processes import private_mosquitto

    readings = 100_000 if quick else 300_000
    latency_rate, latency_s = 10_000, (5 if quick else 15)
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=3)
    with BenchDatabase() as database, tempfile.TemporaryDirectory() as tmp:
        call_command("migrate", verbosity=0)
        site = seed_site(name="Bench pit", trucks=50, crushers=3, stockpiles=4).site
        trucks = site_trucks(site)
        names = sorted(trucks.values())
        frame = _frame(sorted(trucks), 100_000, start - dt.timedelta(days=1))
        from fleet.histories import history
        from fleet.readings import ingest_readings

        ingest_readings("truck", frame.iloc[:1000])  # partitions and caches
        columns = history("truck").copy_columns
        ts = frame["ts"].dt.to_pydatetime().tolist()
        sensors = (frame[name].tolist() for name in columns[3:])
        tuples = list(
            zip(frame["equipment_id"].tolist(), ts, frame["status"].tolist(), *sensors, strict=True)
        )
        raw_split = ingest_alone.cpu_split(
            lambda: [_time_raw_copy(tuples, columns) for _ in range(3)], 3 * len(tuples)
        )
        raw = raw_split["result"]
        empty_history()
        # Every batch of readings of the bench in its own ten minutes, later than every batch before it: the
        # KPI ledger and the equipment state take only readings newer than a unit's last one, so a round
        # older than an earlier one would skip that work and measure less than ingest does.
        slots = (start - dt.timedelta(hours=3, minutes=-10 * n) for n in itertools.count())
        in_process = []  # rounds as for MQTT: one moved by a third between runs here (database state, GC)
        for _ in range(ROUNDS):
            warm_up = payloads(names, site.slug, 10 * TRUCKS, next(slots))
            measured = payloads(names, site.slug, 100_000, next(slots))
            in_process.append(ingest_alone.measure(measured, 100_000, warm_up=warm_up))
            empty_history()
        mqtt_warm_up = payloads(names, site.slug, 10 * TRUCKS, next(slots))
        rounds = [payloads(names, site.slug, readings, next(slots)) for _ in range(ROUNDS)]
        gateway = Gateway(*GATEWAY, (site.slug,))
        with private_mosquitto(Path(tmp), [gateway]) as broker:
            broker_pid = mqttbroker.pid(Path(tmp) / "mosquitto")
            bare = bare_subscriber(broker, rounds[0], broker_pid)  # before any ingest process subscribes
            metrics_dir = Path(tmp) / "metrics"
            processes = _ingest_processes(broker, 2, metrics_dir, committers)
            ingest_pids = [process.pid for process in processes]
            watched = Watched(ingest_pids, broker_pid, metrics_dir)
            try:
                # No limit in paho: _sustained keeps its own window of 2,000, below the broker's 10,000.
                client = connected(Broker(broker.host, broker.port, *GATEWAY), max_inflight=0)
                # Warm-up, not measured: the processes' first batches look up the thousand trucks, their
                # ledger cursors and alarm state; a long-running ingest has them already.
                sustained_paho(client, mqtt_warm_up, 10 * TRUCKS, watched)
                raw_rounds = []
                for messages in rounds:
                    empty_history()
                    raw_rounds.append(sustained_raw(broker, messages, readings, watched))
                # As many readings once more with paho publishing, as before the load generator.
                empty_history()
                by_paho = payloads(names, site.slug, readings, next(slots))
                paho_rate = sustained_paho(client, by_paho, readings, watched)
                minute_rounds = []
                for _ in range(ROUNDS):
                    empty_history()
                    minutes = payloads(names, site.slug, readings, next(slots), MINUTE_PER_MESSAGE)
                    minute_rounds.append(sustained_raw(broker, minutes, readings, watched))
                latencies = _latency(
                    client, site.pk, site.slug, names, latency_rate, latency_s, LATENCY_PER_MESSAGE
                )
                settle()
                killed = mqtt_resilience.kill_and_restart(
                    client, broker, processes, site.slug, names, rate=10_000,
                    start=start + dt.timedelta(hours=2),
                )  # fmt: skip
                settle()
                outage = mqtt_resilience.database_outage(
                    client,
                    site.slug,
                    names,
                    rate=5_000,
                    outage_s=outage_s,
                    start=start + dt.timedelta(hours=1),
                )
                client.disconnect()
                client.loop_stop()
            finally:
                for process in processes:
                    process.terminate()
                for process in processes:
                    process.wait(30)

    raw_rate = statistics.median(raw)
    rates = [r["readings_per_s"] for r in raw_rounds]
    p99 = percentile(latencies, 0.99) if latencies else None
    results = {
        "database": database,
        "readings": readings,
        "committers": committers,
        "mqtt_readings_per_s": stats(rates),
        "raw_copy_readings_per_s": stats(raw),
        "ratio": statistics.median(rates) / raw_rate,
        "in_process_readings_per_s": stats([r["readings_per_s"] for r in in_process]),
        "in_process_ratio": statistics.median(r["readings_per_s"] for r in in_process) / raw_rate,
        "in_process_cpu_us": [
            statistics.median(r["client_us"] for r in in_process),
            statistics.median(r["backend_us"] for r in in_process),
        ],
        "raw_copy_cpu_us": [raw_split["client_us"], raw_split["backend_us"]],
        "paho_readings_per_s": paho_rate,
        "paho_ratio": paho_rate / raw_rate,
        "ingest_cpu_us_per_reading": statistics.median(r["ingest_cpu_us"] for r in raw_rounds),
        "publisher_cpu_us_per_reading": statistics.median(r["publisher_cpu_us"] for r in raw_rounds),
        "machine_busy": statistics.median(r["machine_busy"] for r in raw_rounds),
        "minute_messages_readings_per_s": stats([r["readings_per_s"] for r in minute_rounds]),
        "minute_messages_ratio": statistics.median(r["readings_per_s"] for r in minute_rounds) / raw_rate,
        "minute_messages_ingest_cpu_us": statistics.median(r["ingest_cpu_us"] for r in minute_rounds),
        "bare_subscriber_readings_per_s": bare["readings_per_s"],
        "bare_subscriber_cpu_us_per_reading": bare["cpu_us"],
        "bare_subscriber_broker_cpu_us": bare["broker_cpu_us"],
        "broker_cpu_us_per_reading": statistics.median(r["broker_cpu_us"] for r in raw_rounds),
        "postgres_cpu_us_per_reading": statistics.median(r["postgres_cpu_us"] for r in raw_rounds),
        "minute_messages_postgres_cpu_us": statistics.median(r["postgres_cpu_us"] for r in minute_rounds),
        "batch_readings": statistics.median(r["batch_readings"] or 0 for r in raw_rounds),
        "minute_messages_batch_readings": statistics.median(r["batch_readings"] or 0 for r in minute_rounds),
        "minute_messages_machine_busy": statistics.median(r["machine_busy"] for r in minute_rounds),
        "latency_frames": len(latencies),
        "latency_sent": int(latency_rate * latency_s / LATENCY_PER_MESSAGE),
        "latency_p50_s": percentile(latencies, 0.5) if latencies else None,
        "latency_p99_s": p99,
        "outage": outage,
        "kill": killed,
    }
    results["cpu_floor"] = cpu_floor(results, os.cpu_count() or 1)
    print(json.dumps(results, indent=1, default=str))
    results["rows"] = [
        _row(
            f"MQTT QoS 1 -> 2 ingest processes, {readings:,} readings, {ROUNDS} rounds",
            results["mqtt_readings_per_s"],
            "readings/s",
            ">= 50,000",
            50_000,
        ),
        _row("raw psycopg binary COPY, same run", results["raw_copy_readings_per_s"], "readings/s"),
        _row("MQTT ingest / raw COPY", results["ratio"], "x", ">= 0.5", 0.5),
        _row(
            f"the ingestion function alone, 1 process, no MQTT (messages of 10, decoded), {ROUNDS} rounds",
            results["in_process_readings_per_s"],
            "readings/s",
        ),
        _row("the ingestion function alone / raw COPY", results["in_process_ratio"], "x"),
        _row(
            "CPU a reading, the ingestion function alone: its process", results["in_process_cpu_us"][0], "us"
        ),
        _row("... and its PostgreSQL backend", results["in_process_cpu_us"][1], "us"),
        _row("CPU a reading, raw COPY: its process", results["raw_copy_cpu_us"][0], "us"),
        _row("... and its PostgreSQL backend", results["raw_copy_cpu_us"][1], "us"),
        _row(
            "the same readings published by one paho client (~10 us of CPU a reading on the same cores)",
            {"median": paho_rate, "min": None, "max": None},
            "readings/s",
        ),
        _row("paho-published / raw COPY", results["paho_ratio"], "x"),
        _row("CPU a reading: the two ingest processes", results["ingest_cpu_us_per_reading"], "us"),
        _row(
            f"as many readings as messages of {MINUTE_PER_MESSAGE} (a truck's minute), {ROUNDS} rounds",
            results["minute_messages_readings_per_s"],
            "readings/s",
        ),
        _row(
            f"MQTT ingest / raw COPY, messages of {MINUTE_PER_MESSAGE}",
            results["minute_messages_ratio"],
            "x",
            ">= 0.5",
            0.5,
        ),
        _row(
            f"CPU a reading: the two ingest processes, messages of {MINUTE_PER_MESSAGE}",
            results["minute_messages_ingest_cpu_us"],
            "us",
        ),
        _row("CPU a reading: the load generator", results["publisher_cpu_us_per_reading"], "us"),
        _row("machine busy while ingesting", results["machine_busy"], "share of 2 cores"),
        _row("readings a committed batch, on average", results["batch_readings"], "readings"),
        _row(
            f"... the same, messages of {MINUTE_PER_MESSAGE}",
            results["minute_messages_batch_readings"],
            "readings",
        ),
        _row(
            "bare paho subscriber, 1 process, no database (the ingest's client, decoding, acks)",
            results["bare_subscriber_readings_per_s"],
            "readings/s",
        ),
        _row("CPU a reading: the bare subscriber", results["bare_subscriber_cpu_us_per_reading"], "us"),
        _row(
            "CPU a reading: the broker, bare subscriber round", results["bare_subscriber_broker_cpu_us"], "us"
        ),
        _row("CPU a reading: the broker, ingest rounds", results["broker_cpu_us_per_reading"], "us"),
        _row(
            "CPU a reading: PostgreSQL (every process of the server), ingest rounds",
            results["postgres_cpu_us_per_reading"],
            "us",
        ),
        _row(
            f"... the same, messages of {MINUTE_PER_MESSAGE}",
            results["minute_messages_postgres_cpu_us"],
            "us",
        ),
        _row(
            "CPU a reading any ingest through this client needs at least: bare subscriber + broker + raw "
            "COPY (own and backend) + load generator",
            results["cpu_floor"]["floor_us"],
            "us",
        ),
        _row(
            f"CPU a reading {os.cpu_count()} cores allow at 0.5x raw COPY",
            results["cpu_floor"]["budget_us"],
            "us",
        ),
        _row("the most that floor allows / raw COPY", results["cpu_floor"]["best_ratio"], "x"),
        {
            "metric": f"publish -> live frame p99 at {latency_rate:,} readings/s, {LATENCY_PER_MESSAGE} a "
            f"message ({len(latencies):,} of {results['latency_sent']:,} messages matched)",
            "median": p99,
            "min": results["latency_p50_s"],
            "max": None,
            "unit": "s",
            "goal": "< 1 s",
            "met": p99 is not None and p99 < 1 and len(latencies) >= 0.9 * results["latency_sent"],
        },
        *mqtt_resilience.result_rows(outage, killed),
    ]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer readings (smoke run)")
    parser.add_argument("--outage-s", type=float, default=30, help="seconds the database is gone")
    parser.add_argument("--committers", type=int, default=2, help="committer threads of each ingest process")
    arguments = parser.parse_args()
    run(quick=arguments.quick, outage_s=arguments.outage_s, committers=arguments.committers)
