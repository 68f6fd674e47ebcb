"""Ticks, telemetry, operator actions and CSV imports running at once never deadlock (docs/operations.md,
"Lock order"): real PostgreSQL, one thread and one connection per writer, for a bounded time.

Outside the suite, LOCK_ORDER_SOAK_S lengthens the run and LOCK_ORDER_PERIOD_S paces every writer (1: the
site ticks at 1 Hz while each gateway posts every second); `pytest -s` prints the figures.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import psycopg
import pytest
from django.db import connection
from django.urls import resolve
from django.utils import timezone

from fleet import seeding, ticking
from fleet.models import Truck
from stockpiles.models import Stockpile
from tests.apiclients import client_for
from tests.factories import reading

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

DURATION_S = float(os.environ.get("LOCK_ORDER_SOAK_S", "20"))
PERIOD_S = os.environ.get("LOCK_ORDER_PERIOD_S")  # unset: as fast as the writers go, for contention
GATEWAYS = 2
DEADLOCK = "40P01"


class Tally:
    """What every writer did, shared by the threads (Counter updates are guarded by one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def add(self, what: str, failure: str | None = None) -> None:
        with self.lock:
            self.counts[what] += 1
            if failure is not None:
                self.failures.append(failure)


def sqlstate(error: BaseException) -> str | None:
    while error is not None:
        if isinstance(error, psycopg.Error):
            return error.sqlstate
        error = error.__cause__
    return None


def run_until(deadline: float, tally: Tally, name: str, step: Callable[[], None], pause_s: float) -> None:
    """Call `step` until the deadline on this thread's own connection (every PERIOD_S when set, else with
    `pause_s` between calls); record what it raised."""
    next_at = time.monotonic()
    try:
        while time.monotonic() < deadline:
            try:
                step()
            except Exception as error:  # counted and reported: the test asserts there were none
                code = sqlstate(error)
                tally.add("deadlocks" if code == DEADLOCK else "errors", f"{name}: {code} {error!r}"[:1500])
            if PERIOD_S:
                next_at += float(PERIOD_S)
                pause_s = max(0.0, next_at - time.monotonic())
            time.sleep(pause_s)
    finally:
        connection.close()


def answered(tally: Tally, what: str, response, allowed: tuple[int, ...] = (200,)) -> None:
    """Count a request; a status outside `allowed` is a failure, a 503 naming a deadlock also a deadlock."""
    if response.status_code in allowed:
        tally.add(what)
        return
    if b"DeadlockDetected" in response.content:
        tally.add("deadlocks")
    tally.add(f"{what} failed", f"{what}: {response.status_code} {response.content!r}"[:1500])


def client_with(username: str, *permissions: str):
    """A client of a user holding these permissions itself: the role groups come from data migrations,
    which an earlier transactional test in the run may have flushed."""
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user(username)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return client_for(user)


def telemetry(truck_ids: list[int]) -> dict:
    now = timezone.now()
    items = []
    for truck_id in truck_ids:
        row = reading("truck", truck_id, now, "hauling", fuel_l=500.0, speed_kmh=random.uniform(10, 40))
        row["ts"] = now.isoformat()
        items.append({"kind": "truck", **row})
    return {"readings": items}


def test_ticks_telemetry_and_operator_actions_never_deadlock():
    site = seeding.seed_site(name="Busy pit", trucks=60, crushers=1, stockpiles=2, loaders=3).site
    truck_ids = list(Truck.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
    pile_ids = list(Stockpile.objects.filter(site=site).values_list("pk", flat=True))
    gateways = [client_with(f"gateway-{n}", "fleet.ingest_telemetry") for n in range(GATEWAYS)]
    operator = client_with("operator", "fleet.change_equipment_status")
    resolve("/api/telemetry")  # imports the URL conf (and the ML stack) once, before the clock starts
    deadline = time.monotonic() + DURATION_S
    tally = Tally()

    def tick() -> None:
        outcome = ticking.tick_site(site.pk, dt_s=1.0)
        tally.add("ticks applied" if outcome.applied else f"ticks skipped: {outcome.reason}")

    def gateway(number: int) -> Callable[[], None]:
        own = truck_ids[number::GATEWAYS]
        live: list[int] = []

        def post() -> None:
            if len(live) < len(own):
                live.append(own[len(live)])  # a truck's first reading marks it live
            response = gateways[number].post("/api/telemetry", telemetry(live), format="json")
            answered(tally, "telemetry batches", response)
            if response.status_code == 200:
                assert not response.json()["rejected"], response.json()["rejected"]

        return post

    def maintenance() -> None:
        truck = random.choice(truck_ids)
        answered(tally, "sent to maintenance", operator.post(f"/api/trucks/{truck}/maintenance"))
        # 409: telemetry moved a live truck out of maintenance before the operator returned it.
        back = operator.post(f"/api/trucks/{truck}/return-to-service")
        answered(tally, "returned to service", back, allowed=(200, 409))

    def reclaim() -> None:
        pile = random.choice(pile_ids)
        response = operator.patch(
            f"/api/stockpiles/{pile}", {"reclaim_rate_tph": random.uniform(500, 2000)}, format="json"
        )
        answered(tally, "reclaim rates set", response)

    writers = [("tick", tick, 0.02), ("maintenance", maintenance, 0.05), ("reclaim", reclaim, 0.05)]
    writers += [(f"gateway {n}", gateway(n), 0.05) for n in range(GATEWAYS)]
    threads = [
        threading.Thread(target=run_until, args=(deadline, tally, name, step, pause), name=name)
        for name, step, pause in writers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print(f"\n{DURATION_S:g} s: {dict(tally.counts)}", *tally.failures, sep="\n")  # the figures, with -s
    assert tally.counts["deadlocks"] == 0, tally.failures[:5]
    assert not tally.failures, tally.failures[:5]
    assert tally.counts["ticks applied"] > 0 and tally.counts["telemetry batches"] > 0
    assert Truck.objects.filter(pk__in=truck_ids, live=True).count() == len(truck_ids)
