"""MQTT telemetry into the history: a batch of messages in-process, then the real path through a private
Mosquitto and a real `manage.py ingest_mqtt` process (tests/processes.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import signal
import threading
import time

import pytest
from channels.layers import get_channel_layer
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from fleet.models import Truck, TruckReading
from fleet.mqtt_ingest import ingest_messages
from fleet.mqttformat import decode
from smartmine.mqttbroker import Gateway
from smartmine.platform import live
from smartmine.platform.mqtt import Broker, connected
from tests.factories import CrusherFactory, SiteFactory, TruckFactory, reading
from tests.processes import ingest_mqtt, private_mosquitto, stop

T0 = dt.datetime(2025, 3, 1, 6, 0, tzinfo=dt.UTC)


def payload(kind: str, at: dt.datetime, ts: str | None = None, **values) -> dict:
    row = reading(kind, 0, at, "hauling" if kind == "truck" else "running", **values)
    del row["equipment_id"]
    row["ts"] = ts or at.isoformat().replace("+00:00", "Z")
    return row


def message(topic: str, body) -> object:
    return decode(topic, body if isinstance(body, bytes) else json.dumps(body).encode())


@pytest.mark.django_db
def test_a_batch_stores_the_good_readings_and_reports_each_refusal_with_its_message():
    truck = TruckFactory()
    crusher = CrusherFactory(site=truck.site)
    site = truck.site.slug
    topic = f"smartmine/{site}/truck/{truck.name}/telemetry"
    batch = [
        message(topic, [payload("truck", T0), payload("truck", T0 + dt.timedelta(seconds=5), speed_kmh=999)]),
        message(f"smartmine/{site}/crusher/{crusher.name}/telemetry", payload("crusher", T0)),
        message(f"smartmine/{site}/truck/NO-SUCH/telemetry", payload("truck", T0)),
        message(topic, b"{broken"),
        message(topic, payload("truck", T0 + dt.timedelta(seconds=10), ts="2025-03-01T06:00:10")),
    ]

    report = ingest_messages(batch)

    assert [(o.received, o.accepted) for o in report.outcomes] == [(2, 1), (1, 1), (1, 0), (0, 0), (1, 0)]
    assert report.outcomes[0].rejected == [
        {"index": 1, "reason": "value", "errors": {"speed_kmh": ["above the maximum 120 km/h"]}}
    ]
    assert report.outcomes[2].rejected[0]["reason"] == "unknown_equipment"
    assert "has no truck named 'NO-SUCH'" in report.outcomes[2].rejected[0]["errors"][0]
    assert report.outcomes[3].rejected[0]["reason"] == "payload"
    assert report.outcomes[4].rejected[0] == {"index": 0, "reason": "time", "errors": {"ts": [
        "has no time zone: add Z or +HH:MM"]}}  # fmt: skip
    assert report.accepted_by_kind == {"truck": 1, "crusher": 1} and report.newest_reading == T0
    assert list(TruckReading.objects.filter(equipment=truck).values_list("ts", flat=True)) == [T0]
    truck.refresh_from_db()
    assert truck.live and truck.last_reading_at == T0


@pytest.mark.django_db
def test_readings_in_columns_are_stored_and_a_bad_one_is_refused_by_its_position():
    truck = TruckFactory()
    rows = [payload("truck", T0 + dt.timedelta(seconds=i), engine_hours=100.0 + i) for i in range(4)]
    rows[2]["speed_kmh"] = 999
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    topic = f"smartmine/{truck.site.slug}/truck/{truck.name}/telemetry"

    report = ingest_messages(
        [
            message(topic, columns),
            message(topic, payload("truck", T0 + dt.timedelta(days=5), engine_hours=200.0)),
        ]
    )

    assert [(o.received, o.accepted) for o in report.outcomes] == [(4, 3), (1, 1)]
    assert report.outcomes[0].rejected == [
        {"index": 2, "reason": "value", "errors": {"speed_kmh": ["above the maximum 120 km/h"]}}
    ]
    stored = (
        TruckReading.objects.filter(equipment=truck).order_by("ts").values_list("engine_hours", flat=True)
    )
    assert list(stored) == [100.0, 101.0, 103.0, 200.0]
    assert report.newest_reading == T0 + dt.timedelta(days=5)


# --- through a real broker and a real ingest process


def publisher(broker: Broker, username: str, password: str):
    """A gateway's MQTT 5 client; `acks` receives (mid, PUBACK reason code) of each QoS 1 publish."""
    client = connected(Broker(broker.host, broker.port, username, password))
    client.acks = queue.Queue()
    client.on_publish = lambda _c, _u, mid, reason_code, _p: client.acks.put((mid, reason_code))
    return client


class LiveFrames:
    """Frames of one live group, from the channel layer the ingest process publishes to (its own loop)."""

    def __init__(self, group: str, items: int, timeout_s: float = 20) -> None:
        self.frames: list[dict] = []
        self.ready, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=asyncio.run, args=(self._collect(group, items, timeout_s),))
        self.thread.start()
        assert self.ready.wait(10), "not subscribed to the live group"

    async def _collect(self, group: str, items: int, timeout_s: float) -> None:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        self.ready.set()
        try:
            while sum(len(frame["data"]) for frame in self.frames) < items:  # a frame per batch
                message = await asyncio.wait_for(layer.receive(channel), timeout_s)
                self.frames.append(json.loads(message["text"]))
        finally:
            await layer.group_discard(group, channel)
            self.done.set()

    def wait(self) -> list[dict]:
        self.thread.join(30)
        return self.frames


def wait_until(condition, timeout_s: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def metric(directory, name: str, **labels) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


#: Gateways of the two sites the broker tests create (the ACL is by site slug: it outlives each test's rows).
NORTH = Gateway("gw-north", "token-north", ("north",))
SOUTH = Gateway("gw-south", "token-south", ("south",))


class Ingest:
    """One private broker and one ingest process for the module (Django takes seconds to start)."""

    def __init__(self, broker: Broker, metrics_dir) -> None:
        self.broker, self.metrics_dir = broker, metrics_dir
        self.process = self.start()

    def start(self):
        return ingest_mqtt(
            self.broker, "--batch-messages", "20", PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir)
        )


@pytest.fixture(scope="module")
def mqtt(tmp_path_factory, django_db_setup, django_db_blocker):
    workdir = tmp_path_factory.mktemp("mqtt")
    (workdir / "prom").mkdir()
    with private_mosquitto(workdir, [NORTH, SOUTH]) as broker:
        ingest = Ingest(broker, workdir / "prom")
        try:
            yield ingest
        finally:
            stop([ingest.process])


@pytest.fixture
def site_with_trucks(mqtt, transactional_db):
    site = SiteFactory(slug=NORTH.sites[0])
    other = SiteFactory(slug=SOUTH.sites[0])
    trucks = [TruckFactory(site=site, name=f"HT-{n}") for n in range(1, 4)]
    TruckFactory(site=other, name="HT-1")
    return site, other, trucks


def test_messages_through_the_broker_are_stored_and_bad_ones_rejected_on_their_topic(mqtt, site_with_trucks):
    site, _, _ = site_with_trucks
    before = {
        reason: metric(mqtt.metrics_dir, "smartmine_mqtt_rejected_total", reason=reason)
        for reason in ("payload", "time", "unknown_equipment", "value")
    }
    stored_before = metric(mqtt.metrics_dir, "smartmine_readings_ingested_total", kind="truck", source="mqtt")
    batched_before = metric(mqtt.metrics_dir, "smartmine_mqtt_batch_readings_sum")
    now = timezone.now().replace(microsecond=0)
    frames = LiveFrames(live.channel_group("trucks", site.pk), items=2)
    client = publisher(mqtt.broker, NORTH.username, NORTH.password)
    rejections: queue.Queue = queue.Queue()
    client.on_message = lambda _c, _u, msg: rejections.put((msg.topic, json.loads(msg.payload)))
    base = f"smartmine/{site.slug}/truck"
    try:
        client.subscribe(f"{base}/+/telemetry/rejected", qos=1)
        time.sleep(0.3)  # the subscription is in place
        sent = [
            client.publish(f"{base}/HT-1/telemetry", json.dumps(payload("truck", now)), qos=1),
            client.publish(f"{base}/HT-2/telemetry", json.dumps([
                payload("truck", now), payload("truck", now - dt.timedelta(seconds=1), fuel_l=-5)]), qos=1),
            client.publish(f"{base}/HT-9/telemetry", json.dumps(payload("truck", now)), qos=1),
            client.publish(f"{base}/HT-3/telemetry", b"\x00 not json", qos=1),
            client.publish(f"{base}/HT-1/telemetry", json.dumps(
                payload("truck", now - dt.timedelta(days=400))), qos=1),
        ]  # fmt: skip
        for info in sent:
            info.wait_for_publish(5)
        got = [rejections.get(timeout=20) for _ in range(4)]
        wait_until(lambda: TruckReading.objects.filter(equipment__site=site).count() == 2, what="2 rows")
        frames = frames.wait()
    finally:
        client.disconnect()
        client.loop_stop()

    by_topic = {topic: [] for topic, _ in got}
    for topic, body in got:
        by_topic[topic].append(body)
    fuel = {"index": 1, "reason": "value", "errors": {"fuel_l": ["below the minimum 0 L"]}}
    assert by_topic[f"{base}/HT-2/telemetry/rejected"] == [{"accepted": 1, "rejected": [fuel]}]
    assert by_topic[f"{base}/HT-9/telemetry/rejected"][0]["rejected"][0]["reason"] == "unknown_equipment"
    assert by_topic[f"{base}/HT-3/telemetry/rejected"][0]["rejected"][0]["reason"] == "payload"
    old = by_topic[f"{base}/HT-1/telemetry/rejected"][0]["rejected"][0]
    assert old["reason"] == "time" and "older than" in old["errors"]["ts"][0]
    assert sorted(Truck.objects.filter(site=site, live=True).values_list("name", flat=True)) == [
        "HT-1",
        "HT-2",
    ]
    for reason in ("payload", "time", "unknown_equipment", "value"):
        assert metric(mqtt.metrics_dir, "smartmine_mqtt_rejected_total", reason=reason) == before[reason] + 1
    stored = metric(mqtt.metrics_dir, "smartmine_readings_ingested_total", kind="truck", source="mqtt")
    assert stored == stored_before + 2
    # Readings in the committed batches: all five that came in messages, refused ones included (the
    # message that was not JSON held none).
    assert metric(mqtt.metrics_dir, "smartmine_mqtt_batch_readings_sum") == batched_before + 5
    logged = "".join(mqtt.process.log_lines)
    assert logged.count("reason=value") == 1 and f"topic={base}/HT-2/telemetry" in logged


def test_a_gateway_publishes_only_for_its_own_site(mqtt, site_with_trucks):
    site, other, _ = site_with_trucks
    client = publisher(mqtt.broker, NORTH.username, NORTH.password)
    try:
        now = timezone.now()
        theirs = client.publish(
            f"smartmine/{other.slug}/truck/HT-1/telemetry", json.dumps(payload("truck", now)), qos=1
        )
        ours = client.publish(
            f"smartmine/{site.slug}/truck/HT-1/telemetry", json.dumps(payload("truck", now)), qos=1
        )
        acks = dict(client.acks.get(timeout=5) for _ in range(2))
        wait_until(lambda: TruckReading.objects.filter(equipment__site=site).count() == 1, what="our row")
        time.sleep(0.5)  # had the other site's reading gone through, it would be stored by now too
    finally:
        client.disconnect()
        client.loop_stop()
    assert acks[theirs.mid].is_failure and acks[theirs.mid].getName() == "Not authorized"
    assert not acks[ours.mid].is_failure
    assert not TruckReading.objects.filter(equipment__site=other).exists()
    with pytest.raises(ConnectionError, match="refused gw-north"):
        connected(Broker(mqtt.broker.host, mqtt.broker.port, NORTH.username, "a wrong password"))


def test_killing_the_ingest_mid_stream_stores_every_acknowledged_reading_exactly_once(mqtt, site_with_trucks):
    """SIGKILL in the middle of a sustained QoS 1 publish, then a restart on the same persistent session:
    the broker delivers again whatever was not acknowledged, and nothing is stored twice."""
    site, _, trucks = site_with_trucks
    start = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=50)
    per_truck = 600  # 1,800 readings, 5 per message
    total = len(trucks) * per_truck
    client = publisher(mqtt.broker, NORTH.username, NORTH.password)
    published = threading.Event()

    def publish_all() -> None:
        infos = []
        for first in range(0, per_truck, 5):
            for truck in trucks:
                rows = [
                    payload("truck", start + dt.timedelta(seconds=i), engine_hours=float(i))
                    for i in range(first, first + 5)
                ]
                topic = f"smartmine/{site.slug}/truck/{truck.name}/telemetry"
                infos.append(client.publish(topic, json.dumps(rows), qos=1))
            time.sleep(0.01)
        for info in infos:
            info.wait_for_publish(30)
        published.set()

    def stored() -> int:
        return TruckReading.objects.filter(equipment__site=site).count()

    publishing = threading.Thread(target=publish_all)
    try:
        publishing.start()
        wait_until(lambda: stored() > 200, what="the first readings")
        mqtt.process.send_signal(signal.SIGKILL)
        mqtt.process.wait(10)
        stored_at_kill = stored()
        mqtt.process = mqtt.start()
        publishing.join(60)
        wait_until(lambda: stored() >= total, 30, "every reading")
        time.sleep(1)  # anything still delivered again lands now, and must be a duplicate
    finally:
        client.disconnect()
        client.loop_stop()

    assert published.is_set()
    assert 200 < stored_at_kill < total, "the kill must land mid-stream"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(DISTINCT (equipment_id, ts)), sum(engine_hours) FROM "
            f"{TruckReading._meta.db_table} WHERE equipment_id = ANY(%s)",
            [[truck.pk for truck in trucks]],
        )
        assert cursor.fetchone() == (total, total, len(trucks) * sum(range(per_truck)))


def test_the_device_simulator_feeds_a_seeded_site_through_the_broker(mqtt, transactional_db):
    """publish_mqtt runs the engine and publishes as the site's gateway; the ingest stores every unit."""
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from fleet import seeding
    from fleet.choices import GATEWAYS_GROUP
    from plants.models import CrusherReading
    from tests.factories import UserFactory

    site = seeding.seed_site(name="North", trucks=2, crushers=1, stockpiles=1, loaders=2).site
    assert site.slug == NORTH.sites[0]
    user = UserFactory(username=NORTH.username)
    user.groups.add(Group.objects.get_or_create(name=GATEWAYS_GROUP)[0])  # a flush drops migrated rows
    Token.objects.create(user=user, key=NORTH.password)
    url = f"mqtt://nobody@{mqtt.broker.host}:{mqtt.broker.port}"
    with override_settings(MQTT_URL=url):
        call_command("publish_mqtt", site=site.slug, seconds=2, interval=1, gateway=NORTH.username)

    wait_until(
        lambda: TruckReading.objects.filter(equipment__site=site).count() == 4, what="2 steps of 2 trucks"
    )
    assert set(Truck.objects.filter(site=site).values_list("live", flat=True)) == {True}
    assert CrusherReading.objects.filter(equipment__site=site).count() == 2
