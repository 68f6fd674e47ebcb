"""/metrics: who may read it, and that each metric moves when its event happens (real DB, Redis, tasks)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from prometheus_client import REGISTRY

from fleet import services
from fleet.tasks import tick_site_task
from smartmine import live
from smartmine.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def site():
    return services.seed_site(name="Metrics pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site


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
