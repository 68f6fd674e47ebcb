"""The per-process fan-out against a real daphne and Redis: every client gets every frame once and in order,
and a client that stops reading neither delays the others nor grows without bound.

Each test starts a private redis-server and the benchmark's daphne (the production command) on this test's
database, as tests/smartmine/test_live_cluster.py does; frames are published with `live.publish`, the
tick's own path.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from contextlib import ExitStack

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import override_settings
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from bench.bench_ws import private_redis, start_daphne, stop
from bench.common import connection_url
from bench.ws_settings import channel_layers
from fleet import seeding
from smartmine.devservices import free_port
from smartmine.platform import live
from smartmine.platform.wsframe import text_frame

CLIENTS, FRAMES = 50, 8


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536, 200_000])
def test_a_frame_is_framed_as_the_websocket_library_frames_it(size):
    payload = ("é" * size).encode()[:size]
    assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


@pytest.fixture
def daphne_port(transactional_db):
    """A daphne on a private Redis (pub/sub layer, as configured) and a small seeded site."""
    seeding.seed_site(name="Fan-out pit", trucks=3, crushers=1, stockpiles=1, loaders=2)
    with ExitStack() as stack:
        redis_url, _ = stack.enter_context(private_redis())
        stack.enter_context(override_settings(CHANNEL_LAYERS=channel_layers("pubsub", redis_url)))
        port = free_port()
        daphne = start_daphne(port, redis_url=redis_url, layer="pubsub", db_url=connection_url())
        stack.callback(stop, daphne)
        yield port


async def open_client(port: int):
    """A client past its snapshot and `subscribed`, on the default subscription."""
    client = await websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=30, max_size=None)
    assert json.loads(await asyncio.wait_for(client.recv(), 30))["type"] == "snapshot"
    assert json.loads(await asyncio.wait_for(client.recv(), 30))["type"] == "subscribed"
    return client


async def truck_updates(client, count: int, timeout_s: float = 30) -> list[dict]:
    """The next `count` truck_update messages (other types skipped)."""
    updates: list[dict] = []
    while len(updates) < count:
        message = json.loads(await asyncio.wait_for(client.recv(), timeout_s))
        if message["type"] == "truck_update":
            updates.append(message)
    return updates


def trucks(sequence: int, padding: int = 0) -> list[dict]:
    return [{"kind": "truck", "id": unit, "seq": sequence, "note": "x" * padding} for unit in (1, 2)]


@pytest.mark.e2e
@pytest.mark.slow
def test_every_client_receives_each_frame_once_and_in_order(daphne_port):
    site_id = live_site_id()

    async def run() -> list[list[int]]:
        clients = [await open_client(daphne_port) for _ in range(CLIENTS)]
        for sequence in range(FRAMES):
            await sync_to_async(live.publish)(site_id, {"truck_update": trucks(sequence)})
        seen = await asyncio.gather(*(truck_updates(client, FRAMES) for client in clients))
        extra = await asyncio.gather(*(nothing_more(client) for client in clients))
        await asyncio.gather(*(client.close() for client in clients))
        assert not any(extra), "a client received a frame twice"
        return [[update["data"][0]["seq"] for update in updates] for updates in seen]

    sequences = asyncio.run(run())
    assert sequences == [list(range(FRAMES))] * CLIENTS


async def nothing_more(client) -> bool:
    try:
        message = json.loads(await asyncio.wait_for(client.recv(), 0.5))
    except TimeoutError:
        return False
    return message["type"] == "truck_update"


@pytest.mark.e2e
@pytest.mark.slow
def test_a_client_that_stops_reading_does_not_hold_back_the_others(daphne_port):
    """The stalled client's bytes pile up in its own buffer until the high-water mark, then its deltas are
    dropped; the others get every frame at once, and the stalled one resumes with a snapshot."""
    site_id = live_site_id()
    big_frames = 100  # ~100 kB each: far more than the kernel's socket buffers and the 1 MB high-water mark

    async def run() -> dict:
        stalled = stalled_client(daphne_port)
        readers = [await open_client(daphne_port) for _ in range(5)]
        reading = [asyncio.create_task(truck_updates(client, big_frames)) for client in readers]
        started = time.monotonic()
        for sequence in range(big_frames):  # paced as ticks are, if faster: readers that read keep up
            await sync_to_async(live.publish)(site_id, {"truck_update": trucks(sequence, padding=50_000)})
            await asyncio.sleep(0.02)
        seen = await asyncio.gather(*reading)
        readers_done_s = time.monotonic() - started
        await asyncio.gather(*(client.close() for client in readers))
        types = await asyncio.to_thread(drain_then_read_types, stalled, site_id)
        return {"seen": seen, "readers_done_s": readers_done_s, "stalled_types": types}

    outcome = asyncio.run(run())
    for updates in outcome["seen"]:
        assert [update["data"][0]["seq"] for update in updates] == list(range(big_frames))
    assert outcome["readers_done_s"] < 20
    stalled_updates = outcome["stalled_types"].count("truck_update")
    assert stalled_updates < big_frames  # bounded: deltas past the high-water mark were dropped
    assert "snapshot" in outcome["stalled_types"][outcome["stalled_types"].index("subscribed") + 1 :]


def live_site_id() -> int:
    from fleet.models import Site

    return Site.objects.get(name="Fan-out pit").pk


def stalled_client(port: int) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket client with a tiny receive buffer that sends its handshake and then reads nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), max_size=None)
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    return sock, protocol


def drain_then_read_types(stalled: tuple[socket.socket, ClientProtocol], site_id: int) -> list[str]:
    """Read everything the server kept for the stalled client, then one more tick: the frame types seen."""
    sock, protocol = stalled
    types: list[str] = []
    sock.settimeout(2)
    published_after = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            data = sock.recv(1 << 20)
        except TimeoutError:
            if published_after:
                break
            live.publish(site_id, {"truck_update": trucks(-1)})  # drained: the next tick brings a snapshot
            published_after = True
            continue
        if not data:
            break
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                types.append(json.loads(event.data)["type"])
    sock.close()
    return types
