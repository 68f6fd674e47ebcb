"""End to end: real daphne, Redis and Celery worker ticking, and a real WebSocket client on the root path."""

import asyncio
import json

import pytest
import websockets

from fleet import seeding
from fleet.tasks import tick_site_task
from tests.processes import running_system

#: What the original dashboard switches on, all three sent by every tick.
ORIGINAL_TYPES = {"truck_update", "crusher_update", "stockpile_update"}

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def system():
    with running_system() as system:
        yield {"ws_port": system.ws_port, "api_port": system.api_port, "queue": system.queue}


def test_a_celery_tick_reaches_a_websocket_client_on_the_original_address(system):
    site = seeding.seed_site(name="E2E pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site

    async def watch() -> dict[str, dict]:
        async with websockets.connect(f"ws://127.0.0.1:{system['ws_port']}/") as client:
            first = json.loads(await asyncio.wait_for(client.recv(), 20))
            assert first["type"] == "snapshot" and first["site"] == site.pk
            assert json.loads(await client.recv())["type"] == "subscribed"
            tick_site_task.apply_async(args=[site.pk], queue=system["queue"])  # a real Celery tick
            # A tick that crosses a simulated minute also publishes kpi_update, in any order among the rest.
            received: dict[str, dict] = {}
            while not set(received) >= ORIGINAL_TYPES:
                message = json.loads(await asyncio.wait_for(client.recv(), 60))
                received[message["type"]] = message
            return received

    received = asyncio.run(watch())
    assert ORIGINAL_TYPES <= set(received) <= ORIGINAL_TYPES | {"kpi_update"}
    trucks = [item for item in received["truck_update"]["data"] if item["kind"] == "truck"]
    assert len(trucks) == 3 and all(item["site_id"] == site.pk for item in trucks)
    site.refresh_from_db()
    assert site.tick == 1
