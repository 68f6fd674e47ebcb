"""The ingest process outlives its neighbours: a broker restart and a PostgreSQL outage, each in the middle
of a backlog, with a real Mosquitto (restarted on the same port and persistence file) and a real
`manage.py ingest_mqtt`. It resumes by itself, and every reading the broker acknowledged to the gateway is
in the history exactly once (count, distinct keys and a checksum)."""

from __future__ import annotations

import datetime as dt
import json
import time

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from fleet.models import TruckReading
from smartmine import mqttbroker
from tests.factories import SiteFactory, TruckFactory
from tests.fleet.test_mqtt_ingest import NORTH, payload, publisher, wait_until
from tests.processes import current_database_url, ingest_mqtt, private_mosquitto, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]

PER_MESSAGE = 5


@pytest.fixture
def broker(tmp_path):
    with private_mosquitto(tmp_path, [NORTH]) as running:
        yield running


def restart(broker, tmp_path, down_s: float) -> None:
    directory = tmp_path / "mosquitto"  # where private_mosquitto keeps it
    mqttbroker.stop(directory)  # SIGTERM: the broker saves its sessions and queues
    time.sleep(down_s)
    mqttbroker.start(directory, broker.port)


@pytest.fixture
def trucks():
    site = SiteFactory(slug=NORTH.sites[0])
    return [TruckFactory(site=site, name=f"HT-{n}") for n in range(1, 4)]


def publish(broker, trucks, *, first_s: int, seconds: int) -> int:
    """`seconds` readings of each truck (engine_hours = the second), QoS 1, every PUBACK awaited: all of
    them are the broker's responsibility when this returns. Returns the readings published."""
    client = publisher(broker, NORTH.username, NORTH.password)
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=50)
    infos = []
    try:
        for first in range(first_s, first_s + seconds, PER_MESSAGE):
            for truck in trucks:
                rows = [
                    payload("truck", start + dt.timedelta(seconds=i), engine_hours=float(i))
                    for i in range(first, first + PER_MESSAGE)
                ]
                topic = f"smartmine/{NORTH.sites[0]}/truck/{truck.name}/telemetry"
                infos.append(client.publish(topic, json.dumps(rows), qos=1))
        for info in infos:
            info.wait_for_publish(30)
        acks = [client.acks.get(timeout=30) for _ in infos]
    finally:
        client.disconnect()
        client.loop_stop()
    assert all(not reason.is_failure for _, reason in acks)
    return len(trucks) * seconds


def stored(trucks) -> int:
    return TruckReading.objects.filter(equipment__in=trucks).count()


def assert_exactly_once(trucks, seconds: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(DISTINCT (equipment_id, ts)), sum(engine_hours) FROM "
            f"{TruckReading._meta.db_table} WHERE equipment_id = ANY(%s)",
            [[truck.pk for truck in trucks]],
        )
        total = len(trucks) * seconds
        assert cursor.fetchone() == (total, total, len(trucks) * sum(range(seconds)))


def slow_ingest(broker, *args: str):
    """Small batches, so a backlog of a few seconds builds up and the fault lands in the middle of it."""
    return ingest_mqtt(broker, "--batch-messages", "3", "--batch-ms", "5", "--live-ms", "0", *args)


def subscriptions(process) -> int:
    return "".join(process.log_lines).count("mqtt subscribed")


@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
def test_the_ingest_resumes_by_itself_after_the_broker_restarts_mid_backlog(
    broker, trucks, tmp_path, exclusive
):
    """The backlog queued for the ingest session survives the restart. A shared subscription does not
    (Mosquitto 2.0 keeps only plain ones), so what arrives before the ingest subscribes again reaches no
    one: here the gateway publishes after that. An exclusive ingest's plain subscription is restored with
    its session, so the gateway publishes as soon as the broker is back."""
    process = slow_ingest(broker, *(["--exclusive"] if exclusive else []))
    try:
        first = publish(broker, trucks, first_s=0, seconds=600)
        wait_until(lambda: stored(trucks) > 0, what="the first readings")
        at_stop = stored(trucks)
        restart(broker, tmp_path, down_s=2)
        if not exclusive:
            wait_until(lambda: subscriptions(process) == 2, what="the ingest to subscribe again")
        second = publish(broker, trucks, first_s=600, seconds=300)
        at_second = stored(trucks)
        wait_until(lambda: stored(trucks) >= first + second, 60, "every reading after the restart")
        time.sleep(1)  # anything delivered once more lands now, and must be a duplicate
    finally:
        stop([process])
    assert 0 < at_stop < first, "the restart must land mid-backlog"
    assert at_second < first + second
    assert subscriptions(process) == 2  # it reconnected by itself
    assert_exactly_once(trucks, 900)


def set_connections(dbname: str, allowed: bool) -> None:
    """ALLOW_CONNECTIONS off and every backend of the database cut: PostgreSQL is gone for it."""
    admin_url = current_database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s",
                [dbname],
            )


def test_the_ingest_waits_out_a_database_outage_and_loses_nothing_acknowledged(broker, trucks):
    dbname = connection.settings_dict["NAME"]
    process = slow_ingest(broker)
    outage_s = 8
    try:
        first = publish(broker, trucks, first_s=0, seconds=600)
        wait_until(lambda: stored(trucks) > 0, what="the first readings")
        set_connections(dbname, allowed=False)
        connection.close()  # ours was cut too
        try:
            during = publish(broker, trucks, first_s=600, seconds=300)  # the broker keeps taking them
            time.sleep(outage_s)
        finally:
            set_connections(dbname, allowed=True)
        at_return = stored(trucks)
        wait_until(lambda: stored(trucks) >= first + during, 90, "every reading after the outage")
        time.sleep(1)
    finally:
        stop([process])
    assert at_return < first + during, "the outage must land mid-backlog"
    log = "".join(process.log_lines)
    assert "mqtt batch not stored" in log  # it did meet the outage, and retried
    assert_exactly_once(trucks, 900)
