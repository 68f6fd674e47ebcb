"""/api/health with a real worker that does not serve the tick queue: the twin would stop, health says so."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartmine.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def batch_only_worker():
    """A real worker serving only the batch queue (scenarios, retraining), as if the tick worker had died."""
    name = f"batch-only-{os.getpid()}"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "smartmine", "worker", "--pool", "solo", "-l", "WARNING",
         "-Q", "batch", "-n", f"{name}@%h", "--without-mingle", "--without-gossip"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not celery_app.control.ping(timeout=0.5):
        time.sleep(0.5)
    yield name
    process.terminate()
    process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.django_db
def test_health_fails_naming_the_tick_queue_when_no_worker_serves_it(client, batch_only_worker):
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 503, body
    assert "worker" in body["failed"]
    assert "no worker serves the 'ticks' queue" in body["components"]["worker"]["error"]
