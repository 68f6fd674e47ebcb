"""The MQTT benchmark's "ingestion function alone" rows: `ingest_messages` in the bench process with no
MQTT at all, and the CPU a reading of it and of raw COPY, split into the process's own and its PostgreSQL
backend's. They say how much of the MQTT path is the checks and writes, and how much the client
(docs/telemetry.md). Run by bench/bench_mqtt.py on its database, before the broker starts.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any


def _backend_pid() -> int:
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def cpu_split(run: Callable[[], Any], readings: int) -> dict:
    """What `run()` cost a reading: this process's CPU and its PostgreSQL backend's (same machine)."""
    from bench.soak_processes import total_cpu_s

    backend = _backend_pid()
    own_before, backend_before = time.process_time(), total_cpu_s([backend])
    result = run()
    return {
        "result": result,
        "client_us": 1e6 * (time.process_time() - own_before) / readings,
        "backend_us": 1e6 * (total_cpu_s([backend]) - backend_before) / readings,
    }


def measure(messages: list[tuple[str, bytes]], readings: int, warm_up: list[tuple[str, bytes]]) -> dict:
    """The ingestion function alone, no MQTT: the messages decoded beforehand, then `ingest_messages` in
    batches of 20,000 readings in this process, as an ingest process commits them. Its rate and CPU a
    reading against raw COPY's say how much of the path is the checks and writes, and how much the client.
    `warm_up` goes first, off the clock: a long-running ingest process has the trucks' ids and state."""
    from fleet.mqtt_ingest import LivePublisher, ingest_messages
    from fleet.mqttformat import decode
    from smartmine.platform import heap

    ingest_messages(
        [decode(topic, payload) for topic, payload in warm_up], publisher=LivePublisher(every_s=0)
    )
    decoded = [decode(topic, payload) for topic, payload in messages]
    batch = 20_000 // max(1, readings // len(messages))

    def ingest() -> float:
        started = time.perf_counter()
        publisher = LivePublisher()
        for first in range(0, len(decoded), batch):
            ingest_messages(decoded[first : first + batch], publisher=publisher)
            publisher.publish_due()
        return readings / (time.perf_counter() - started)

    # As `ingest_mqtt` does at start (smartmine.platform.heap): this process also holds every payload of the
    # bench, which the collector's full passes would otherwise walk again and again on the clock.
    heap.freeze_startup_heap()
    try:
        split = cpu_split(ingest, readings)
    finally:
        gc.unfreeze()
    return {
        "readings_per_s": split["result"],
        "client_us": split["client_us"],
        "backend_us": split["backend_us"],
    }
