"""The live consumer through the real ASGI stack (auth middleware, routing) and the real Redis layer."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token

from fleet import seeding
from fleet.models import MiningZone, Truck
from smartmine import consumers
from smartmine.asgi import application
from smartmine.platform import live

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def site(settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    return seeding.seed_site(name="Live pit", trucks=4, crushers=1, stockpiles=1, loaders=2).site


async def connect(path="/", headers=None, query=""):
    communicator = WebsocketCommunicator(application, f"{path}{query}", headers=headers or [])
    connected, code = await communicator.connect()
    return communicator, connected, code


async def receive(communicator, timeout=3):
    return json.loads(await communicator.receive_from(timeout=timeout))


async def publish(site_id, updates):
    await sync_to_async(live.publish)(site_id, updates)


async def test_a_silent_client_gets_a_snapshot_of_every_site_group_then_subscribed(site):
    communicator, connected, _ = await connect()
    assert connected
    snapshot = await receive(communicator)
    assert snapshot["type"] == "snapshot" and snapshot["site"] == site.pk
    assert {entry["type"] for entry in snapshot["data"]} == set(live.STREAM_TYPES.values())
    trucks = next(entry for entry in snapshot["data"] if entry["type"] == "truck_update")
    assert sum(item["kind"] == "truck" for item in trucks["items"]) == 4
    subscribed = await receive(communicator)
    assert subscribed["type"] == "subscribed" and len(subscribed["data"]) == len(live.STREAM_TYPES)
    assert set(snapshot) >= {"type", "timestamp", "site", "data"}
    await communicator.disconnect()


async def test_deltas_follow_the_snapshot_one_message_per_type(site):
    communicator, _, _ = await connect("/ws/live/")
    await receive(communicator)
    await receive(communicator)
    rows = [{"kind": "truck", "id": 1, "lat": -22.3}, {"kind": "truck", "id": 2, "lat": -22.31}]
    await publish(site.pk, {"truck_update": rows, "crusher_update": [{"kind": "crusher", "id": 9}]})
    first, second = await receive(communicator), await receive(communicator)
    assert (first["type"], len(first["data"])) == ("truck_update", 2)
    assert (second["type"], len(second["data"])) == ("crusher_update", 1)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()


async def test_a_per_truck_group_receives_only_that_truck(settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    site = await sync_to_async(
        lambda: seeding.seed_site(name="Live pit", trucks=4, crushers=1, stockpiles=1, loaders=2).site
    )()
    truck_id = await sync_to_async(lambda: Truck.objects.filter(site=site).order_by("pk").first().pk)()
    communicator, _, _ = await connect()
    await receive(communicator)
    await receive(communicator)
    await communicator.send_json_to({"action": "unsubscribe", "groups": [f"trucks@{site.pk}"]})
    assert f"trucks@{site.pk}" not in (await receive(communicator))["data"]
    await communicator.send_json_to({"action": "subscribe", "groups": [f"truck/{truck_id}"]})
    snapshot = await receive(communicator)
    assert [item["id"] for item in snapshot["data"][0]["items"]] == [truck_id]
    assert (await receive(communicator))["type"] == "subscribed"
    rows = [
        {"kind": "truck", "id": truck_id},
        {"kind": "truck", "id": truck_id + 1},
        {"kind": "loader", "id": truck_id},
    ]
    await publish(site.pk, {"truck_update": rows})
    update = await receive(communicator)
    assert update["type"] == "truck_update" and update["data"] == [{"kind": "truck", "id": truck_id}]
    await communicator.disconnect()


async def test_a_zone_group_receives_the_items_in_that_zone(site):
    zone_id = await sync_to_async(lambda: MiningZone.objects.filter(site=site).first().pk)()
    communicator, _, _ = await connect()
    await receive(communicator)
    await receive(communicator)
    await communicator.send_json_to({"action": "unsubscribe", "groups": [f"trucks@{site.pk}"]})
    await receive(communicator)
    await communicator.send_json_to({"action": "subscribe", "groups": [f"trucks@{site.pk}/zone/{zone_id}"]})
    await receive(communicator)
    await receive(communicator)
    await publish(site.pk, {"truck_update": [{"id": 1, "zone_id": zone_id}, {"id": 2, "zone_id": None}]})
    assert (await receive(communicator))["data"] == [{"id": 1, "zone_id": zone_id}]
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("not json", "invalid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"action": "dance"}', "unknown action"),
        ('{"action": "subscribe", "groups": ["weather"]}', "unknown stream"),
        ('{"action": "subscribe", "groups": ["bulldozer/1"]}', "unknown equipment kind"),
        ('{"action": "subscribe", "groups": ["truck/999999"]}', "no such truck"),
        ('{"action": "subscribe", "groups": ["trucks@999999"]}', "no site"),
        ('{"action": "subscribe", "groups": []}', "needs 'groups'"),
        ('{"action": "unsubscribe", "groups": ["kpis@1/zone/1"]}', "not subscribed"),
        ("x" * (consumers.MAX_FRAME_BYTES + 1), "too large"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays_open(site, message, expected):
    communicator, _, _ = await connect()
    await receive(communicator)
    await receive(communicator)
    await communicator.send_to(text_data=message)
    error = await receive(communicator)
    assert error["type"] == "error" and expected in error["message"]
    await communicator.send_json_to({"action": "ping", "data": 7})
    pong = await receive(communicator)
    assert pong["type"] == "pong" and pong["echo"] == 7
    await communicator.disconnect()


async def test_random_bytes_get_an_error(site):
    communicator, _, _ = await connect()
    await receive(communicator)
    await receive(communicator)
    await communicator.send_to(bytes_data=b"\xff\x00\x13\x37")
    assert (await receive(communicator))["type"] == "error"
    await communicator.disconnect()


async def test_a_flooding_client_is_closed_with_a_policy_code(site):
    communicator, _, _ = await connect()
    await receive(communicator)
    await receive(communicator)
    for _ in range(int(consumers.BURST) + consumers.FLOOD_STRIKES + 5):
        await communicator.send_json_to({"action": "ping"})
    closed = None
    for _ in range(200):
        output = await communicator.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            closed = output
            break
    assert closed is not None and closed["code"] == consumers.POLICY_VIOLATION


async def test_anonymous_clients_are_refused_unless_anonymous_read_is_on(site, settings):
    settings.API_ALLOW_ANONYMOUS_READ = False
    _, connected, code = await connect()
    assert not connected and code == 4001


async def test_a_token_authenticates_a_client_when_anonymous_read_is_off(site, settings):
    settings.API_ALLOW_ANONYMOUS_READ = False
    key = await sync_to_async(lambda: Token.objects.create(user=User.objects.create_user("viewer")).key)()
    communicator, connected, _ = await connect(query=f"?token={key}")
    assert connected and (await receive(communicator))["type"] == "snapshot"
    await communicator.disconnect()
    _, connected, code = await connect(query="?token=wrong")
    assert not connected and code == 4001


async def test_a_browser_from_a_foreign_origin_is_refused(site):
    _, connected, code = await connect(headers=[(b"origin", b"http://evil.example")])
    assert not connected and code == 4003
    communicator, connected, _ = await connect(headers=[(b"origin", b"http://localhost:3000")])
    assert connected
    await communicator.disconnect()


async def test_a_slow_client_gets_a_fresh_snapshot_instead_of_the_deltas_it_could_not_take(site, monkeypatch):
    monkeypatch.setattr(consumers, "HIGH_WATER_BYTES", 2_000)
    monkeypatch.setattr(consumers, "LOW_WATER_BYTES", 500)
    communicator, _, _ = await connect()
    await receive(communicator)
    await receive(communicator)
    big = [{"kind": "truck", "id": n, "note": "x" * 100} for n in range(10)]
    for _ in range(10):  # the client reads nothing meanwhile
        await publish(site.pk, {"truck_update": big})
    await asyncio.sleep(0.5)
    backlog = []
    while not await communicator.receive_nothing(timeout=0.2):
        backlog.append(await receive(communicator))
    assert 0 < len(backlog) < 10  # bounded: deltas past the high-water mark were dropped
    await publish(site.pk, {"truck_update": big})  # drained: the next tick brings the latest state
    assert (await receive(communicator))["type"] == "snapshot"
    await publish(site.pk, {"truck_update": big})
    assert (await receive(communicator))["type"] == "truck_update"
    await communicator.disconnect()
