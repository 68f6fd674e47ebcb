"""Abusive WebSocket clients against a real daphne: each one is answered or closed, and nobody else notices.

One good client watches a site while bad clients send random bytes, broken UTF-8, invalid JSON, a frame
past daphne's size limit, unknown groups and a flood of subscriptions. The good client must receive every
update in order, a new client must still get its snapshot, a real tick must still arrive and /api/health
must still answer. The system runs on a private Redis, so no other test's updates reach these clients.
The flood's close code is also checked without daphne, in a fast test.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
import requests
import websockets
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from bench.bench_ws import private_redis
from bench.ws_settings import channel_layers
from fleet import schedules, seeding
from smartmine import consumers
from smartmine.asgi import application
from smartmine.platform import live
from tests.processes import celery_client, running_system

pytestmark = pytest.mark.django_db(transaction=True)

HUGE_FRAME_BYTES = 2 * 1024 * 1024  # twice daphne's default --websocket-max-message-size (1 MiB)
BIG_FRAME_BYTES = 512 * 1024  # under daphne's limit, far over the consumer's MAX_FRAME_BYTES
INVALID_PAYLOAD, MESSAGE_TOO_BIG = 1007, 1009  # RFC 6455 close codes
MIN_UPDATES = 20  # published while the bad clients do their worst, one every 50 ms


@pytest.fixture
def system(settings):
    with private_redis() as (redis_url, _), running_system(REDIS_URL=redis_url) as system:
        settings.CHANNEL_LAYERS = channel_layers("pubsub", redis_url)  # this process publishes there too
        yield system


@pytest.fixture
def site():
    return seeding.seed_site(name="Abuse pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


async def open_client(port: int):
    """A client past its snapshot and `subscribed`, as a dashboard is once it shows the mine."""
    client = await websockets.connect(f"ws://127.0.0.1:{port}/ws/live/", open_timeout=20, max_size=None)
    snapshot = await next_message(client, "snapshot")
    await next_message(client, "subscribed")
    return client, snapshot


async def next_message(client, message_type: str, timeout_s: float = 20) -> dict:
    """The next message of one type; the live updates every subscribed client gets meanwhile are skipped."""
    while True:
        message = json.loads(await asyncio.wait_for(client.recv(), timeout_s))
        if message["type"] == message_type:
            return message


async def close_code(client, timeout_s: float = 20) -> int | None:
    """Reads until the server closes the connection; the code it closed with."""
    try:
        while True:
            await asyncio.wait_for(client.recv(), timeout_s)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def answered_with_error(port: int, payload: str | bytes) -> str:
    """Sends one bad message; returns the error's text once a ping proves the connection still works."""
    client, _ = await open_client(port)
    async with client:
        await client.send(payload)
        error = await next_message(client, "error")
        await client.send(json.dumps({"action": "ping", "data": "still here"}))
        assert (await next_message(client, "pong"))["echo"] == "still here"
        return error["message"]


async def closed_after(port: int, *payloads: str | bytes, text: bool | None = None) -> int | None:
    """Sends bad messages without waiting for answers; returns the code the server closed with."""
    client, _ = await open_client(port)
    async with client:
        try:
            for payload in payloads:
                await client.send(payload, text=text)
        except websockets.ConnectionClosed:
            pass  # closed while still sending: the code is read below
        return await close_code(client)


async def abuse(port: int) -> dict[str, object]:
    """Every kind of bad client at once; what each got back."""
    subscribe, unknown = ({"action": "subscribe", "groups": [name]} for name in ("trucks", "weather"))
    flood = [json.dumps(subscribe)] * (int(consumers.BURST) + consumers.FLOOD_STRIKES + 50)
    attempts = {
        "random bytes": answered_with_error(port, os.urandom(256)),
        "invalid JSON": answered_with_error(port, "{'action': 'subscribe',"),
        "unknown groups": answered_with_error(port, json.dumps(unknown)),
        "big frame": answered_with_error(port, "x" * BIG_FRAME_BYTES),
        "broken UTF-8": closed_after(port, b"\xff\xfe\xfd", text=True),
        "huge frame": closed_after(port, "x" * HUGE_FRAME_BYTES),
        "flood": closed_after(port, *flood),
    }
    return dict(zip(attempts, await asyncio.gather(*attempts.values()), strict=True))


async def publish_numbered_updates(site_id: int, abuse_over: asyncio.Event) -> int:
    """Numbered truck updates every 50 ms for as long as the abuse lasts, then an end mark; how many."""
    publish, number = sync_to_async(live.publish), 0
    while not abuse_over.is_set() or number < MIN_UPDATES:
        await publish(site_id, {"truck_update": [{"kind": "truck", "id": 1, "n": number}]})
        number += 1
        await asyncio.sleep(0.05)
    await publish(site_id, {"truck_update": [{"kind": "truck", "id": 1, "end": True}]})
    return number


async def numbered_updates(client) -> list[int]:
    """The numbers of the updates the client receives, up to the end mark."""
    received: list[int] = []
    while True:
        update = await next_message(client, "truck_update", timeout_s=20)
        for item in update["data"]:
            if item.get("end"):
                return received
            received.append(item["n"])


async def abuse_then_signal(port: int, abuse_over: asyncio.Event) -> dict[str, object]:
    try:
        return await abuse(port)
    finally:
        abuse_over.set()


def health_codes(api_port: int) -> list[int]:
    """/api/health's answers until one is 200 (at most 10 s): a busy solo worker may miss one ping."""
    url, deadline = f"http://127.0.0.1:{api_port}/api/health", time.monotonic() + 10
    codes = [requests.get(url, timeout=10).status_code]
    while codes[-1] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        codes.append(requests.get(url, timeout=10).status_code)
    return codes


@pytest.mark.e2e
@pytest.mark.slow
def test_bad_clients_are_refused_one_by_one_while_good_clients_keep_their_stream(system, site):
    async def scenario() -> tuple[dict, list[int], dict, list[str]]:
        good, _ = await open_client(system.api_port)
        abuse_over = asyncio.Event()
        outcomes, received, published, health = await asyncio.gather(
            abuse_then_signal(system.api_port, abuse_over),
            numbered_updates(good),
            publish_numbered_updates(site.pk, abuse_over),
            asyncio.to_thread(health_codes, system.api_port),
        )
        newcomer, snapshot = await open_client(system.ws_port)
        broker = celery_client(system.env["REDIS_URL"])
        broker.send_task(schedules.TICK_TASK, args=[site.pk], queue=system.queue)
        ticked = [await next_message(client, "truck_update", timeout_s=60) for client in (good, newcomer)]
        await good.close()
        await newcomer.close()
        assert received == list(range(published))  # none lost, none out of order
        return outcomes, health, snapshot, [item["kind"] for item in ticked[0]["data"]]

    outcomes, health, snapshot, ticked_kinds = asyncio.run(scenario())

    assert "invalid JSON" in outcomes["random bytes"] and "invalid JSON" in outcomes["invalid JSON"]
    assert "unknown stream 'weather'" in outcomes["unknown groups"]
    assert "too large" in outcomes["big frame"]
    # daphne (autobahn) fails these by dropping the connection, so the client may see no close frame at all
    assert outcomes["broken UTF-8"] in (INVALID_PAYLOAD, None)
    assert outcomes["huge frame"] in (MESSAGE_TOO_BIG, None)
    assert outcomes["flood"] == consumers.POLICY_VIOLATION
    assert snapshot["site"] == site.pk
    assert "truck" in ticked_kinds  # a real tick through the worker still reaches old and new clients
    assert health[-1] == 200, health  # answered all along, even while the bad clients were at it
    assert system.processes["web"].poll() is None


async def test_a_flooding_client_is_closed_once_with_a_code_daphne_can_send(site, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    communicator = WebsocketCommunicator(application, "/ws/live/")
    assert (await communicator.connect())[0]
    for _ in range(int(consumers.BURST) + consumers.FLOOD_STRIKES + 30):
        await communicator.send_json_to({"action": "ping"})

    output = {"type": ""}
    while output["type"] != "websocket.close":
        output = await communicator.receive_output(timeout=10)

    # autobahn lets an application close only with 1000 or 3000-4999; anything else kills the consumer (1011)
    assert output["code"] == consumers.POLICY_VIOLATION and 3000 <= output["code"] <= 4999
    assert await communicator.receive_nothing(timeout=1)  # the rest of the flood: no answer, no second close
