"""The measured rounds of bench/bench_mqtt.py: readings published through the broker until the ingest
processes have stored them, with the CPU each part spent a reading (ingest processes, load generator,
broker, PostgreSQL, the whole machine) and the readings a committed batch held; the bare paho subscriber
with no database; and the CPU floor of any ingest through that client against what the cores allow at 0.5x
raw COPY (issue 21).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.mqtt_common import GATEWAY, stored_count


@dataclass(frozen=True)
class Watched:
    """What a sustained round measures besides the rate: the ingest processes, the broker, their metrics."""

    ingest_pids: list[int]
    broker_pid: int | None
    metrics_dir: Path


def committed_batches(metrics_dir: Path) -> tuple[float, float]:
    """(batches committed, readings in them) so far, over the ingest processes (their metrics files)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    count = total = 0.0
    for family in registry.collect():
        if family.name == "smartmine_mqtt_batch_readings":
            for sample in family.samples:
                count += sample.value if sample.name.endswith("_count") else 0.0
                total += sample.value if sample.name.endswith("_sum") else 0.0
    return count, total


def wait_stored(readings: int, started: float, metrics_dir: Path, committed_before: float) -> float:
    """Seconds from `started` until `readings` are stored; raises when none more arrive for 30 s.

    Progress comes from the ingest processes' own metrics (readings in the batches they committed, in
    `metrics_dir`; `committed_before` read before the clock started), every 50 ms, which costs PostgreSQL
    nothing. The history is counted once they are all committed (then every 50 ms until the count is
    complete), and every 5 s while waiting, to see progress. Counting the growing table twenty times a
    second cost PostgreSQL more CPU than the ingest it measured (docs/performance.md, 2026-12-05)."""
    stored, moved_at, counted_at = stored_count(), time.monotonic(), time.monotonic()
    while stored < readings and time.monotonic() - moved_at < 30:
        time.sleep(0.05)
        committed = committed_batches(metrics_dir)[1] - committed_before
        if committed < readings and time.monotonic() - counted_at < 5:
            continue
        counted_at = time.monotonic()
        if (now := stored_count()) != stored:
            stored, moved_at = now, time.monotonic()
    if stored < readings:  # refused readings are reported on .../telemetry/rejected
        raise RuntimeError(f"{stored} of {readings} readings stored, none more for 30 s")
    return time.perf_counter() - started


def sustained_paho(client, messages: list[tuple[str, bytes]], readings: int, watched: Watched) -> float:
    """Readings stored a second with paho as the publisher (about 10 us of this process's CPU a reading)."""
    committed_before = committed_batches(watched.metrics_dir)[1]
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
    published_s = time.perf_counter() - started
    elapsed = wait_stored(readings, started, watched.metrics_dir, committed_before)
    print(f"sustained (paho): every message acknowledged by the broker after {published_s:.2f} s, stored "
          f"after {elapsed:.2f} s", flush=True)  # fmt: skip
    return readings / elapsed


def sustained_raw(broker, messages: list[tuple[str, bytes]], readings: int, watched: Watched) -> dict:
    """Readings stored a second with the raw load generator (bench/mqtt_load.py) as the publisher, and the
    CPU each part spent a reading: the ingest processes, the publisher (this process), the broker, the whole
    machine."""
    from bench.mqtt_load import RawPublisher, publish_packets
    from bench.soak_processes import machine_cpu_s, postgres_pids, total_cpu_s

    def postgres_cpu_s() -> dict[int, float]:  # per process: backends come and go during a round
        return {pid: total_cpu_s([pid]) for pid in postgres_pids()}

    packets = publish_packets(messages)  # encoded before the clock starts, as 1,000 trucks' radios would
    publisher = RawPublisher(broker.host, broker.port, *GATEWAY)
    broker_pids = [watched.broker_pid] if watched.broker_pid else []
    try:
        ingest_before, own_before = total_cpu_s(watched.ingest_pids), time.process_time()
        broker_before, machine_before = total_cpu_s(broker_pids), machine_cpu_s()
        postgres_before, (batches_before, batched_before) = (
            postgres_cpu_s(),
            committed_batches(watched.metrics_dir),
        )
        started = time.perf_counter()
        published_s = publisher.publish(packets)
        elapsed = wait_stored(readings, started, watched.metrics_dir, batched_before)
        ingest_s, own_s = total_cpu_s(watched.ingest_pids) - ingest_before, time.process_time() - own_before
        broker_s = total_cpu_s(broker_pids) - broker_before
        postgres_s = sum(cpu - postgres_before.get(pid, 0.0) for pid, cpu in postgres_cpu_s().items())
        after = committed_batches(watched.metrics_dir)
        batches, batched = after[0] - batches_before, after[1] - batched_before
        machine = {name: value - machine_before[name] for name, value in machine_cpu_s().items()}
    finally:
        publisher.close()
    print(f"sustained (raw publisher): every message acknowledged after {published_s:.2f} s, stored after "
          f"{elapsed:.2f} s", flush=True)  # fmt: skip
    return {
        "readings_per_s": readings / elapsed,
        "ingest_cpu_us": 1e6 * ingest_s / readings,
        "publisher_cpu_us": 1e6 * own_s / readings,
        "broker_cpu_us": 1e6 * broker_s / readings,
        "postgres_cpu_us": 1e6 * postgres_s / readings,
        "batch_readings": batched / batches if batches else None,
        "machine_busy": machine["busy"] / sum(machine.values()),
    }


def bare_subscriber(broker, messages: list[tuple[str, bytes]], broker_pid: int | None) -> dict:
    """The MQTT client's floor: one paho subscriber as the ingest process has it (the same client, shared
    subscription, manual acknowledgements after each batch, the payloads decoded on arrival), with no
    database. Its CPU a reading is what paho and the decoding cost before any check or write; the load
    generator's thread (in this process too) is measured apart and left out, the broker's is kept apart."""
    from paho.mqtt.subscribeoptions import SubscribeOptions

    from bench.mqtt_load import RawPublisher, publish_packets
    from bench.soak_processes import total_cpu_s
    from fleet.mqttformat import SUBSCRIPTION, decode
    from smartmine.platform.inbox import BatchInbox
    from smartmine.platform.mqtt import client, connect_properties

    inbox = BatchInbox(max_items=2000, max_weight=20_000)
    subscribed = threading.Event()
    subscriber = client(broker, client_id="bench-bare", manual_ack=True)
    subscriber.on_connect = lambda mqtt, *_: mqtt.subscribe(SUBSCRIPTION, options=SubscribeOptions(qos=1))
    subscriber.on_subscribe = lambda *_: subscribed.set()
    subscriber.on_message = lambda _c, _u, message: inbox.put(
        (message, decoded := decode(message.topic, message.payload)), weight=len(decoded)
    )
    subscriber.connect(
        broker.host, broker.port, clean_start=True, properties=connect_properties(receive_maximum=6000)
    )
    subscriber.loop_start()
    publisher = RawPublisher(broker.host, broker.port, *GATEWAY, client_id="bench-bare-load")
    try:
        if not subscribed.wait(10):
            raise RuntimeError("the bare subscriber was not subscribed within 10 s")
        packets = publish_packets(messages)
        publisher_cpu_s = []

        def publish() -> None:
            before = time.thread_time()
            publisher.publish(packets)
            publisher_cpu_s.append(time.thread_time() - before)

        sending = threading.Thread(target=publish)
        broker_pids = [broker_pid] if broker_pid else []
        cpu_before, broker_before = time.process_time(), total_cpu_s(broker_pids)
        started = time.perf_counter()
        sending.start()
        received = readings = 0
        while received < len(messages):
            batch = inbox.take(first_wait_s=30, collect_s=0.2)
            if not batch:
                raise RuntimeError(f"the bare subscriber got {received} of {len(messages)} messages")
            for message, decoded in batch:
                subscriber.ack(message.mid, message.qos)
                readings += len(decoded)
            received += len(batch)
        elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu_before
        broker_s = total_cpu_s(broker_pids) - broker_before
        sending.join()
        cpu_s -= sum(publisher_cpu_s)
    finally:
        publisher.close()
        subscriber.disconnect()
        subscriber.loop_stop()
    print(f"bare paho subscriber: {len(messages):,} messages in {elapsed:.2f} s", flush=True)
    return {
        "readings_per_s": readings / elapsed,
        "cpu_us": 1e6 * cpu_s / readings,
        "broker_cpu_us": 1e6 * broker_s / readings,
    }


def cpu_floor(results: dict, cores: int) -> dict:
    """What any ingest through this MQTT client needs at least, a reading, against what the cores allow
    at half of raw COPY's rate: the bare subscriber (paho, decoding, acknowledgements), the broker, raw
    COPY's own CPU and its backend's (storing the reading and nothing else) and the load generator. When
    the floor passes the budget, 0.5x is out of reach with this client on these cores, whatever the
    ingestion function does beyond raw COPY (issue 21)."""
    floor = (
        results["bare_subscriber_cpu_us_per_reading"]
        + results["bare_subscriber_broker_cpu_us"]
        + sum(results["raw_copy_cpu_us"])
        + results["publisher_cpu_us_per_reading"]
    )
    raw_rate = results["raw_copy_readings_per_s"]["median"]
    return {
        "floor_us": floor,
        "budget_us": cores * 1e6 / (0.5 * raw_rate),
        "best_ratio": cores * 1e6 / floor / raw_rate,
    }
