"""End to end: real daphne, Redis and Celery worker ticking, and a real WebSocket client on the root path."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets
from django.db import connection

from fleet import services
from fleet.tasks import tick_site_task
from smartmine.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on port {port}")


def wait_for_worker(node: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if celery_app.control.ping(destination=[node], timeout=0.5):
            return
    raise TimeoutError(f"worker {node} did not answer")


@pytest.fixture
def system():
    """daphne on two ports and a worker on a private queue, all on this test's database and real Redis."""
    db = connection.settings_dict
    api_port, ws_port, queue = free_port(), free_port(), f"e2e-{os.getpid()}"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "API_PORT": str(api_port),
        "WEBSOCKET_PORT": str(ws_port),
        "API_ALLOW_ANONYMOUS_READ": "true",
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
    }
    python = sys.executable
    processes = [
        subprocess.Popen(
            [python, "-m", "daphne", "-e", f"tcp:port={api_port}:interface=127.0.0.1",
             "-e", f"tcp:port={ws_port}:interface=127.0.0.1", "smartmine.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [python, "-m", "celery", "-A", "smartmine", "worker", "--pool", "solo", "-Q", queue,
             "-n", f"{queue}@%h", "-l", "WARNING", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ),
    ]  # fmt: skip
    try:
        wait_for_port(ws_port)
        wait_for_worker(f"{queue}@{socket.gethostname()}")  # its queue binding must exist before we send
        yield {"ws_port": ws_port, "api_port": api_port, "queue": queue}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_a_celery_tick_reaches_a_websocket_client_on_the_original_address(system):
    site = services.seed_site(name="E2E pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site

    async def watch() -> dict[str, dict]:
        async with websockets.connect(f"ws://127.0.0.1:{system['ws_port']}/") as client:
            first = json.loads(await asyncio.wait_for(client.recv(), 20))
            assert first["type"] == "snapshot" and first["site"] == site.pk
            assert json.loads(await client.recv())["type"] == "subscribed"
            tick_site_task.apply_async(args=[site.pk], queue=system["queue"])  # a real Celery tick
            received: dict[str, dict] = {}
            while len(received) < 3:
                message = json.loads(await asyncio.wait_for(client.recv(), 60))
                received[message["type"]] = message
            return received

    received = asyncio.run(watch())
    assert set(received) == {"truck_update", "crusher_update", "stockpile_update"}
    trucks = [item for item in received["truck_update"]["data"] if item["kind"] == "truck"]
    assert len(trucks) == 3 and all(item["site_id"] == site.pk for item in trucks)
    site.refresh_from_db()
    assert site.tick == 1
