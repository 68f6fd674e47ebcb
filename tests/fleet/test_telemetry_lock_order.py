"""Where a telemetry batch waits for its site (docs/operations.md, "Lock order"): after copying its readings
when their day's partition exists, so ingest processes of one site copy side by side; before, when the
partition must be created, since creating one takes the whole reading table a tick may be writing.

Real PostgreSQL: one connection holds the site as a tick does, the batch runs on another.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, transaction
from django.utils import timezone

from fleet import ingest, locks
from fleet.models import TruckReading
from tests.factories import TruckFactory, reading

pytestmark = pytest.mark.django_db(transaction=True)


def _items(truck, start: dt.datetime, count: int) -> list[dict]:
    rows = [reading("truck", truck.pk, start + dt.timedelta(seconds=n), "hauling") for n in range(count)]
    return [{"kind": "truck", **row, "ts": row["ts"].isoformat()} for row in rows]


def _locks_of(pid: int) -> dict[str, set[tuple[str, bool]]]:
    """The backend's locks on reading tables and on the site table: relation -> {(mode, granted)}; plus,
    under "waiting", what its wait is about (a lock on a row of fleet_site shows as a transaction id)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(c.relname, l.locktype), l.mode, l.granted FROM pg_locks l "
            "LEFT JOIN pg_class c ON c.oid = l.relation WHERE l.pid = %s",
            [pid],
        )
        held: dict[str, set[tuple[str, bool]]] = {}
        for name, mode, granted in cursor.fetchall():
            held.setdefault(name, set()).add((mode, granted))
        return held


def _batch_waiting_for_site(truck, items: list[dict]) -> tuple[dict, int]:
    """Hold the truck's site (as a tick does), post the batch on another connection, and return the batch
    backend's locks once it waits; then let it finish. Returns (locks while waiting, readings stored)."""
    started, pid, outcome = threading.Event(), [], []

    def post() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            started.set()
            outcome.append(ingest.ingest_telemetry(items=items))
        finally:
            connection.close()

    with transaction.atomic():
        locks.lock_sites([truck.site_id])
        worker = threading.Thread(target=post)
        worker.start()
        assert started.wait(10)
        deadline, held = time.monotonic() + 10, {}
        while time.monotonic() < deadline:  # the batch backend stops on the site row (a transaction lock)
            held = _locks_of(pid[0])
            if any(not granted for modes in held.values() for _, granted in modes):
                break
            time.sleep(0.02)
    worker.join(10)
    assert outcome and not outcome[0].rejected
    return held, TruckReading.objects.filter(equipment=truck).count()


def _reading_tables(held: dict) -> set[str]:
    return {name for name in held if name.startswith("fleet_truckreading")}


def test_a_batch_copies_its_readings_before_waiting_for_its_site():
    truck = TruckFactory()
    now = timezone.now().replace(microsecond=0)
    ingest.ingest_telemetry(items=_items(truck, now - dt.timedelta(minutes=5), 1))  # today's partition

    held, stored = _batch_waiting_for_site(truck, _items(truck, now - dt.timedelta(minutes=4), 50))

    assert ("RowExclusiveLock", True) in held["fleet_truckreading"]  # copied, before the site
    assert any(not granted for _, granted in held.get("transactionid", set()) | held.get("tuple", set()))
    assert stored == 51


def test_a_batch_that_needs_a_partition_created_waits_for_its_site_first():
    truck = TruckFactory()
    day = (timezone.now() - dt.timedelta(days=3)).replace(hour=12, minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "fleet_truckreading_p{day:%Y%m%d}"')

    held, stored = _batch_waiting_for_site(truck, _items(truck, day, 50))

    assert not _reading_tables(held)  # nothing of the history touched while it waits
    assert stored == 50
