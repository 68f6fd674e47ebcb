"""/api/health with a real worker that does not serve the tick queue: when ticks stop, health says why."""

import datetime as dt
import os
from pathlib import Path

import pytest
from django.utils import timezone

from fleet.models import Site
from tests.factories import SiteFactory
from tests.processes import solo_worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def batch_only_worker():
    """A real worker serving only the batch queue (scenarios, retraining), as if the tick worker had died."""
    name = f"batch-only-{os.getpid()}"
    with solo_worker(name, "batch"):
        yield name


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
