"""The live stream across processes: two daphnes behind one Redis, and Redis going away and coming back.

Every test starts its own redis-server on a free port (never the machine's Redis, which may be stopped
here) and real daphne processes on this test's database, for both channels-redis layers.
"""

import asyncio
import json
import os
import subprocess
import time
from contextlib import ExitStack

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.test import override_settings

from bench.bench_ws import private_redis, stop
from bench.bench_ws import start_daphne as start_bench_daphne
from bench.common import connection_url
from bench.ws_settings import channel_layers
from fleet import seeding
from smartmine.devservices import free_port
from smartmine.platform import live

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]
LAYERS = ["core", "pubsub"]
TRUCKS = [{"kind": "truck", "id": 1, "lat": -22.3}]


def start_daphne(redis_url: str, layer: str) -> tuple[int, subprocess.Popen]:
    """The benchmark's daphne (the production command) on this test's database, on a free port."""
    port = free_port()
    return port, start_bench_daphne(port, redis_url=redis_url, layer=layer, db_url=connection_url())


async def open_client(port: int):
    """A client past its snapshot and `subscribed`, as a dashboard is once it shows the mine."""
    client = await websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=20)
    snapshot = json.loads(await asyncio.wait_for(client.recv(), 20))
    assert snapshot["type"] == "snapshot"
    assert json.loads(await asyncio.wait_for(client.recv(), 20))["type"] == "subscribed"
    return client, snapshot


async def next_update(client, timeout_s: float = 10) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(client.recv(), timeout_s))
        if message["type"] == "truck_update":
            return message


@pytest.fixture
def site():
    return seeding.seed_site(name="Cluster pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


@pytest.mark.parametrize("layer", LAYERS)
def test_two_daphne_processes_behind_one_redis_each_deliver_to_their_own_clients(site, layer):
    with ExitStack() as stack:
        redis_url, _ = stack.enter_context(private_redis())
        stack.enter_context(override_settings(CHANNEL_LAYERS=channel_layers(layer, redis_url)))
        ports = []
        for _ in range(2):
            port, daphne = start_daphne(redis_url, layer)
            stack.callback(stop, daphne)
            ports.append(port)

        async def watch() -> list[dict]:
            clients = [(await open_client(port))[0] for port in ports for _ in range(2)]
            await sync_to_async(live.publish)(site.pk, {"truck_update": TRUCKS})
            updates = [await next_update(client) for client in clients]
            for client in clients:
                await client.close()
            return updates

        updates = asyncio.run(watch())
    assert [update["data"] for update in updates] == [TRUCKS] * 4
    assert {update["site"] for update in updates} == {site.pk}


@pytest.mark.parametrize("layer", LAYERS)
def test_after_redis_comes_back_clients_are_not_silent_and_reconnecting_ones_get_a_fresh_snapshot(
    site, layer
):
    redis_port = free_port()
    with ExitStack() as stack:
        redis_url, redis = stack.enter_context(private_redis(redis_port))
        stack.enter_context(override_settings(CHANNEL_LAYERS=channel_layers(layer, redis_url)))
        port, daphne = start_daphne(redis_url, layer)
        stack.callback(stop, daphne)

        async def outage_and_recovery() -> dict:
            client, _ = await open_client(port)
            await sync_to_async(live.publish)(site.pk, {"truck_update": TRUCKS})
            assert (await next_update(client))["data"] == TRUCKS

            stop(redis)  # Redis goes away: publishing fails without raising, the tick stands
            assert await sync_to_async(live.publish)(site.pk, {"truck_update": TRUCKS}) == 1
            await asyncio.sleep(2)
            with private_redis(redis_port):  # ... and comes back empty, on the same address
                heard = await first_sign_of_life(client, site.pk)
                assert heard in {"update", "closed", "snapshot"}, heard
                fresh, snapshot = await reconnect(port)
                assert snapshot["site"] == site.pk
                await sync_to_async(live.publish)(site.pk, {"truck_update": TRUCKS})
                update = await next_update(fresh)
                await fresh.close()
                await client.close()
                return {"heard": heard, "update": update}

        outcome = asyncio.run(outage_and_recovery())
    assert outcome["update"]["data"] == TRUCKS


async def first_sign_of_life(client, site_id: int, within_s: float = 20) -> str:
    """Publish once a second until the old client hears something: a delta, a snapshot or a close."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        await sync_to_async(live.publish)(site_id, {"truck_update": TRUCKS})
        try:
            message = json.loads(await asyncio.wait_for(client.recv(), 1))
        except TimeoutError:
            continue
        except websockets.ConnectionClosed:
            return "closed"
        return "update" if message["type"] == "truck_update" else message["type"]
    return "silent"


async def reconnect(port: int, within_s: float = 20):
    """What a dashboard does when its socket closes: try again until it gets a snapshot."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await open_client(port)
        except (OSError, websockets.WebSocketException, AssertionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
