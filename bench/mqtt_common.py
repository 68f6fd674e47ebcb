"""What the MQTT benchmarks share: the site's 1,000 trucks, their healthy readings as QoS 1 messages, and the
history counters (bench/bench_mqtt.py measures throughput and latency, with its rounds in
bench/mqtt_rounds.py, and bench/mqtt_resilience.py the outage and kill scenarios on the same processes)."""

from __future__ import annotations

import datetime as dt
import json
import time

TRUCKS = 1000
PER_MESSAGE = 10
GATEWAY = ("bench-gateway", "bench-token")
#: A healthy hauling truck's sensors, valid for either truck class (tanks of 1,137 L and more): inside every
#: default alarm rule's normal band, so the figures measure ingest, not an alarm flood.
HEALTHY = {
    "lat": -22.3, "lon": 118.6, "heading_deg": 90.0, "speed_kmh": 32.0, "payload_t": 80.0, "fuel_l": 1000.0,
    "engine_temp_c": 88.0, "tyre_pressure_kpa": 690.0, "vibration_mm_s": 4.0, "engine_hours": 0.0,
    "health": 90.0,
}  # fmt: skip


def site_trucks(site) -> dict[int, str]:
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


def payloads(
    names: list[str], slug: str, readings: int, start: dt.datetime, per_message: int = PER_MESSAGE
) -> list[tuple[str, bytes]]:
    """(topic, payload) messages of `per_message` readings, each truck one reading a second."""
    messages = []
    per_truck = readings // len(names)
    for first in range(0, per_truck, per_message):
        for name in names:
            rows = [
                {"ts": (start + dt.timedelta(seconds=i)).isoformat(), "status": "hauling", **HEALTHY}
                for i in range(first, min(first + per_message, per_truck))
            ]
            messages.append((f"smartmine/{slug}/truck/{name}/telemetry", json.dumps(rows).encode()))
    return messages


def stored_count(since: dt.datetime | None = None) -> int:
    """Readings stored (from `since`, for an hour, when given)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if since is None:
            cursor.execute("SELECT count(*) FROM fleet_truckreading")
        else:
            cursor.execute(
                "SELECT count(*) FROM fleet_truckreading WHERE ts >= %s AND ts < %s",
                [since, since + dt.timedelta(hours=1)],
            )
        return cursor.fetchone()[0]


def empty_history() -> None:
    """The reading history emptied, so the next round's count starts at 0 and repeats nothing."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE fleet_truckreading")


def settle() -> None:
    """Wait until the ingest has drained what was published (the count stops moving for 2 s)."""
    last, still_since = -1, time.monotonic()
    while time.monotonic() - still_since < 2:
        time.sleep(0.5)
        now = stored_count()
        if now != last:
            last, still_since = now, time.monotonic()
