"""The MQTT benchmark's resilience scenarios (issue 21): a database outage and a SIGKILL of an ingest process
in the middle of a sustained QoS 1 publish, each checked for every acknowledged reading stored exactly once
(count, distinct keys, and the sum of engine hours that number the readings: a checksum).

Run by bench/bench_mqtt.py on its own broker, ingest processes and database, after the throughput rounds.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from bench.mqtt_common import HEALTHY, PER_MESSAGE, empty_history, stored_count


def _set_connections(dbname: str, allowed: bool) -> None:
    """ALLOW_CONNECTIONS off and every backend cut (PostgreSQL gone for this database), or on again."""
    import psycopg

    from bench.common import connection_url

    with psycopg.connect(connection_url().rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", [dbname]
            )


def _numbered(n: int, start: dt.datetime, slug: str, names: list[str]) -> tuple[str, str]:
    """Message `n` of a numbered stream: the trucks in turn, PER_MESSAGE readings a second apart, the engine
    hours numbering every reading (0, 1, 2, ...) so that their sum checks the stored set."""
    name, second = names[n % len(names)], n // len(names) * PER_MESSAGE
    rows = [
        {"ts": (start + dt.timedelta(seconds=second + i)).isoformat(), "status": "hauling", **HEALTHY,
         "engine_hours": float(n * PER_MESSAGE + i)}
        for i in range(PER_MESSAGE)
    ]  # fmt: skip
    return f"smartmine/{slug}/truck/{name}/telemetry", json.dumps(rows)


def _exactly_once(start: dt.datetime, readings: int) -> dict:
    """What the hour from `start` holds of a numbered stream of `readings`: count, distinct keys, checksum."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT (equipment_id, ts)), sum(engine_hours) FROM fleet_truckreading "
            "WHERE ts >= %s AND ts < %s",
            [start, start + dt.timedelta(hours=1)],
        )
        count, distinct, checksum = cursor.fetchone()
    return {"stored": count, "distinct": distinct, "checksum_ok": checksum == sum(range(readings))}


def database_outage(
    client, slug: str, names: list[str], *, rate: int, outage_s: float, start: dt.datetime
) -> dict:
    """Publish at `rate` readings/s (10 a message, QoS 1, every PUBACK awaited) for 10 s, through an outage
    of the database of `outage_s`, and 20 s after; then wait for the ingest to catch up and check that each
    reading is stored exactly once (count, distinct keys, sum of engine hours: a checksum)."""
    from django.db import connection

    dbname = connection.settings_dict["NAME"]
    empty_history()
    connection.close()
    total_s = 10 + outage_s + 20
    messages, sent, began = int(rate * total_s / PER_MESSAGE), [], time.perf_counter()
    down_at = back_at = None
    for n in range(messages):
        elapsed = time.perf_counter() - began
        if down_at is None and elapsed >= 10:
            _set_connections(dbname, allowed=False)
            down_at = time.perf_counter()
        if down_at is not None and back_at is None and elapsed >= 10 + outage_s:
            _set_connections(dbname, allowed=True)
            back_at = time.perf_counter()
        sent.append(client.publish(*_numbered(n, start, slug, names), qos=1))
        delay = began + (n + 1) * PER_MESSAGE / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    if back_at is None:
        _set_connections(dbname, allowed=True)
        back_at = time.perf_counter()
    for info in sent:
        info.wait_for_publish(60)
    acknowledged = sum(1 for info in sent if info.is_published()) * PER_MESSAGE
    readings = messages * PER_MESSAGE
    deadline = time.monotonic() + 600
    while stored_count(since=start) < readings and time.monotonic() < deadline:
        time.sleep(0.2)
    caught_up = time.perf_counter()
    return {
        "outage_s": round(back_at - down_at, 1),
        "published": readings,
        "acknowledged": acknowledged,
        **_exactly_once(start, readings),
        "catch_up_s": round(caught_up - back_at, 1),
    }


def kill_and_restart(
    client, broker, processes: list, slug: str, names: list[str], *, rate: int, start: dt.datetime
) -> dict:
    """Publish at `rate` readings/s (10 a message, QoS 1) for 20 s; SIGKILL the first ingest process 6 s in
    and start it again on the same persistent session 3 s later; then check that each reading is stored
    exactly once (count, distinct keys, sum of engine hours)."""
    import signal

    from tests.processes import ingest_mqtt

    empty_history()
    total_s, messages = 20, int(rate * 20 / PER_MESSAGE)
    sent, killed = [], {}

    def publish_all() -> None:
        began = time.perf_counter()
        for n in range(messages):
            sent.append(client.publish(*_numbered(n, start, slug, names), qos=1))
            delay = began + (n + 1) * PER_MESSAGE / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    publishing = threading.Thread(target=publish_all)
    publishing.start()
    time.sleep(6)
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait(10)
    killed["stored_at_kill"] = stored_count(since=start)
    time.sleep(3)
    processes[0] = ingest_mqtt(broker, "--name", "bench-1", "--batch-ms", "200", LOG_LEVEL="INFO")
    publishing.join(total_s + 60)
    for info in sent:
        info.wait_for_publish(60)
    readings = messages * PER_MESSAGE
    deadline = time.monotonic() + 300
    while stored_count(since=start) < readings and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # anything delivered again lands now, and must be a counted duplicate
    return {
        "published": readings,
        "acknowledged": sum(1 for info in sent if info.is_published()) * PER_MESSAGE,
        "stored_at_kill": killed["stored_at_kill"],
        **_exactly_once(start, readings),
    }


def result_rows(outage: dict, killed: dict) -> list[dict]:
    """The benchmark's rows for both scenarios: met when each acknowledged reading is stored exactly once."""
    return [
        {
            "metric": f"database outage of {outage['outage_s']:g} s at 5,000 readings/s: "
            f"{outage['stored']:,} stored of {outage['acknowledged']:,} acknowledged "
            f"({outage['distinct']:,} distinct, checksum {'ok' if outage['checksum_ok'] else 'WRONG'}); "
            "catch-up after it",
            "median": outage["catch_up_s"],
            "min": None,
            "max": None,
            "unit": "s",
            "goal": "nothing acknowledged lost, none twice",
            "met": outage["stored"] == outage["distinct"] == outage["acknowledged"] and outage["checksum_ok"],
        },
        {
            "metric": f"SIGKILL of one ingest process mid-publish at 10,000 readings/s, restarted 3 s later: "
            f"{killed['stored']:,} stored of {killed['published']:,} published ({killed['distinct']:,} "
            f"distinct, checksum {'ok' if killed['checksum_ok'] else 'WRONG'}; {killed['stored_at_kill']:,} "
            "stored at the kill)",
            "median": killed["stored"],
            "min": None,
            "max": None,
            "unit": "readings",
            "goal": "every reading exactly once",
            "met": killed["stored"] == killed["distinct"] == killed["published"] and killed["checksum_ok"],
        },
    ]
