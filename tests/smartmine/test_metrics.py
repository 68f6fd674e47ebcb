"""/metrics: who may read it, and that each metric moves when its event happens (real DB, Redis, tasks);
and the summary of the same figures in /api/health."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from prometheus_client import REGISTRY

from analytics.models import ModelVersion
from fleet import seeding, services
from fleet.models import TruckReading
from fleet.tasks import tick_site_task
from plants.models import CrusherReading
from smartmine import health
from smartmine.asgi import application
from smartmine.platform import live, metrics
from stockpiles.models import StockpileReading

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def site():
    return seeding.seed_site(name="Metrics pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


@pytest.fixture
def health_metrics(client, monkeypatch):
    """The `metrics` of /api/health; the component checks are left out (test_health covers them)."""
    monkeypatch.setattr(health, "CHECKS", {})
    return lambda: client.get("/api/health").json()["metrics"]


def readings_stored() -> int:
    return sum(model.objects.count() for model in (TruckReading, CrusherReading, StockpileReading))


def test_metrics_are_refused_outside_the_allowed_networks_without_the_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403 and response.json()["error"]["code"] == "permission_denied"
    assert (
        client.get("/metrics", REMOTE_ADDR="10.1.2.3", headers={"Authorization": "Bearer wrong"}).status_code
        == 403
    )
    allowed = client.get("/metrics", REMOTE_ADDR="10.1.2.3", headers={"Authorization": "Bearer s3cret-token"})
    assert allowed.status_code == 200 and b"smartmine_ticks_total" in allowed.content


def test_metrics_are_served_to_the_local_network(client):
    response = client.get("/metrics/", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"smartmine_process_resident_memory_bytes" in response.content


def test_a_tick_through_celery_moves_the_tick_task_readings_and_broadcast_metrics(site):
    before = {
        "ticks": sample("smartmine_ticks_total", outcome="applied"),
        "durations": sample("smartmine_tick_duration_seconds_count", phase="total"),
        "readings": sample("smartmine_readings_ingested_total", kind="truck", source="simulator"),
        "tasks": sample("smartmine_celery_tasks_total", task="fleet.tasks.tick_site_task", outcome="success"),
        "broadcasts": sample("smartmine_broadcasts_total", stream="trucks", outcome="sent"),
    }
    tick_site_task.apply(args=[site.pk])  # runs here, with Celery's signals
    assert sample("smartmine_ticks_total", outcome="applied") == before["ticks"] + 1
    assert sample("smartmine_tick_duration_seconds_count", phase="total") == before["durations"] + 1
    assert (
        sample("smartmine_readings_ingested_total", kind="truck", source="simulator")
        == before["readings"] + 3
    )
    tasks = sample("smartmine_celery_tasks_total", task="fleet.tasks.tick_site_task", outcome="success")
    assert tasks == before["tasks"] + 1
    assert sample("smartmine_broadcasts_total", stream="trucks", outcome="sent") == before["broadcasts"] + 1


def test_a_skipped_tick_is_counted_as_skipped(site):
    services.set_site_paused(sites=[site], paused=True)
    before = sample("smartmine_ticks_total", outcome="skipped")
    tick_site_task.apply(args=[site.pk])
    assert sample("smartmine_ticks_total", outcome="skipped") == before + 1


def test_api_requests_are_timed_by_view_and_status(client):
    labels = {"view": "version", "method": "GET", "status": "200"}
    before = sample("smartmine_api_request_duration_seconds_count", **labels)
    client.get("/api/version")
    assert sample("smartmine_api_request_duration_seconds_count", **labels) == before + 1


@pytest.mark.asyncio
async def test_websocket_connections_and_messages_are_counted(site, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    connections_before = sample("smartmine_websocket_connections")
    sent_before = sample("smartmine_websocket_messages_total", type="snapshot", outcome="sent")
    communicator = WebsocketCommunicator(application, "/")
    assert (await communicator.connect())[0]
    await communicator.receive_from()
    assert sample("smartmine_websocket_connections") == connections_before + 1
    assert sample("smartmine_websocket_messages_total", type="snapshot", outcome="sent") == sent_before + 1
    await sync_to_async(live.publish)(site.pk, {"truck_update": [{"id": 1}]})
    await communicator.disconnect()
    assert sample("smartmine_websocket_connections") == connections_before


def test_health_summarises_a_tick_its_celery_task_and_the_readings_it_wrote(site, health_metrics):
    before, readings_before = health_metrics(), readings_stored()
    tick_site_task.apply(args=[site.pk])
    after = health_metrics()

    assert after["ticks"]["applied"] == before["ticks"]["applied"] + 1
    assert after["ticks"]["p95_ms"] > 0 and after["ticks"]["max_lag_s"] >= 0
    assert after["celery"]["success"] == before["celery"]["success"] + 1
    assert after["readings_ingested"] - before["readings_ingested"] == readings_stored() - readings_before > 0


def test_health_summarises_requests_and_server_errors(health_metrics, monkeypatch, client):
    def broken():
        raise ConnectionError("refused")

    monkeypatch.setattr(health, "CHECKS", {"broken": broken})  # health itself answers 503
    before = client.get("/api/health")
    client.get("/api/version")
    after = client.get("/api/health").json()["metrics"]

    assert before.status_code == 503
    assert after["api"]["requests"] == before.json()["metrics"]["api"]["requests"] + 2
    assert after["api"]["server_errors"] == before.json()["metrics"]["api"]["server_errors"] + 1
    assert 0 < after["api"]["p50_ms"] <= after["api"]["p99_ms"]


def test_health_reports_memory_and_cpu_of_the_web_process(health_metrics):
    web = health_metrics()["processes"]["web"]
    assert web["peak_memory_bytes"] > 10_000_000 and web["cpu_s"] > 0


def test_health_shows_the_age_and_validation_of_active_models_as_of_the_last_scrape(health_metrics, client):
    now = timezone.now()
    ModelVersion.objects.create(
        kind="failure_crusher", version=1, trained_at=now - dt.timedelta(hours=1), training_start=now,
        training_end=now, metrics={"roc_auc": 0.81}, artifact_path="failure_crusher/1.joblib",
        sha256="0" * 64, active=True,
    )  # fmt: skip
    client.get("/metrics", REMOTE_ADDR="127.0.0.1")

    model = health_metrics()["ml"]["failure_crusher"]
    assert 3600 <= model["age_s"] < 3700
    assert model["validation"]["roc_auc"] == 0.81


async def test_the_summary_counts_websocket_connections_and_messages(site, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    before = metrics.summary()["websocket"]
    communicator = WebsocketCommunicator(application, "/")
    assert (await communicator.connect())[0]
    received = [await communicator.receive_from()]
    while not await communicator.receive_nothing(timeout=0.2):
        received.append(await communicator.receive_from())
    during = metrics.summary()["websocket"]
    await communicator.disconnect()

    assert during["connections"] == before["connections"] + 1
    assert during["messages_sent"] == before["messages_sent"] + len(received)
    assert metrics.summary()["websocket"]["connections"] == before["connections"]


def test_the_summary_adds_up_every_process_when_metrics_are_multiprocess(tmp_path):
    def run(code: str) -> str:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
        command = [sys.executable, "-c", f"from smartmine.platform import metrics\n{code}"]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout

    for applied, status in ((2, "200"), (3, "503")):
        run(
            f"metrics.TICKS.labels(outcome='applied').inc({applied})\n"
            f"metrics.API_LATENCY.labels(view='version', method='GET', status='{status}').observe(0.02)\n"
            "metrics.sample_process('worker')"
        )
    summary = json.loads(run("import json; print(json.dumps(metrics.summary()))"))

    assert summary["ticks"]["applied"] == 5
    assert summary["api"]["requests"] == 2 and summary["api"]["server_errors"] == 1
    assert 10 < summary["api"]["p50_ms"] <= 25  # both in the (10 ms, 25 ms] bucket
    assert (
        list(summary["processes"]) == ["worker"] and summary["processes"]["worker"]["peak_memory_bytes"] > 0
    )
