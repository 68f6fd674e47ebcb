"""/api/health with a real worker that does not serve the tick queue: when ticks stop, health says why."""

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from fleet.models import Site
from smartmine.celery import app as celery_app
from tests.factories import SiteFactory

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
@pytest.mark.django_db(transaction=True)  # the checks run in threads, on connections of their own
def test_a_stale_simulation_names_the_tick_queue_nobody_serves(client, batch_only_worker):
    site = SiteFactory()
    Site.objects.filter(pk=site.pk).update(last_tick_at=timezone.now() - dt.timedelta(minutes=10))
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 503, body
    assert body["failed"] == ["simulation"]  # a worker answers: the batch one
    error = body["components"]["simulation"]["error"]
    assert "last tick 600 s ago" in error and "no worker serves the 'ticks' queue" in error
