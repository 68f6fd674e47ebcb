"""/api/health against the real PostgreSQL, Redis and a real Celery worker, and against a hanging server.

(How its `metrics` follow real events is in test_metrics.py, next to /metrics.)
"""

import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import schemathesis
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from smartmine import health
from smartmine.platform import metrics
from tests.apiclients import wsgi_app
from tests.processes import solo_worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def celery_worker_process():
    """A real worker process on the configured broker serving every queue, so the worker check is met."""
    with solo_worker(f"health-test-{os.getpid()}", "ticks,periodic,batch") as process:
        yield process


@pytest.fixture
def hanging_server():
    """A TCP server that accepts connections and never answers: the worst kind of broken dependency."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    stop = threading.Event()

    def accept_forever():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.slow
@pytest.mark.django_db
def test_health_is_ok_when_every_component_answers(client, celery_worker_process):
    response = client.get("/api/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["components"]) == {"database", "redis", "worker", "simulation", "models", "mqtt"}
    for component in body["components"].values():
        assert component["status"] == "ok"
        assert component["latency_ms"] >= 0


@pytest.mark.django_db
def test_health_is_degraded_and_names_redis_when_redis_hangs(client, settings, hanging_server):
    settings.REDIS_URL = f"redis://127.0.0.1:{hanging_server}/0"
    started = time.monotonic()
    response = client.get("/api/health/")
    elapsed_s = time.monotonic() - started
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded" and "redis" in body["failed"]
    assert body["components"]["redis"]["status"] in {"failed", "timeout"}
    assert body["components"]["database"]["status"] == "ok"
    assert elapsed_s < 2.0


@pytest.mark.django_db
def test_health_is_degraded_when_the_database_is_unreachable(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    from django.db import connections

    original = connections.settings["default"]["PORT"]
    connections.settings["default"]["PORT"] = closed_port
    try:
        response = client.get("/api/health")
    finally:
        connections.settings["default"]["PORT"] = original
    body = response.json()
    assert response.status_code == 503
    assert "database" in body["failed"] and body["components"]["database"]["status"] == "failed"


def test_a_degraded_answer_is_logged_as_a_warning_naming_the_components_not_as_an_error(
    client, monkeypatch, caplog
):
    def no_worker():
        raise RuntimeError("no Celery worker answered")  # what the first probe of a start-up meets

    monkeypatch.setattr(health, "CHECKS", {"database": lambda: {}, "worker": no_worker})
    with caplog.at_level(logging.INFO, logger="django.request"):
        response = client.get("/api/health")

    assert response.status_code == 503
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "django.request"]
    assert logged == [("WARNING", "Health degraded: worker")]


def test_a_check_that_hangs_is_reported_as_a_timeout_within_the_deadline():
    def hangs():
        time.sleep(10)
        return {}

    started = time.monotonic()
    results = health.run_checks({"hangs": hangs, "fine": lambda: {"x": 1}}, timeout_s=0.5)
    assert time.monotonic() - started < 1.0
    assert results["hangs"].status == health.TIMEOUT
    assert results["fine"].status == health.OK and results["fine"].detail == {"x": 1}


def test_a_check_that_raises_is_reported_as_failed_with_its_error():
    def broken():
        raise ConnectionError("refused")

    result = health.run_checks({"broken": broken}, timeout_s=1)["broken"]
    assert result.status == health.FAILED and "refused" in result.detail["error"]


def test_a_metrics_summary_that_fails_is_reported_in_metrics_and_leaves_the_status_alone(client, monkeypatch):
    def unreadable():
        raise OSError("metrics directory is gone")

    monkeypatch.setattr(health, "CHECKS", {"fine": lambda: {}})
    monkeypatch.setattr(metrics, "summary", unreadable)
    response = client.get("/api/health")

    assert response.status_code == 200 and response.json()["status"] == "ok"
    assert response.json()["metrics"] == {"error": "OSError: metrics directory is gone"}


@pytest.mark.django_db(transaction=True)  # the WSGI app closes connections
@pytest.mark.parametrize("summary_fails", [False, True], ids=["summary", "summary-error"])
def test_the_health_body_matches_its_openapi_schema(monkeypatch, summary_fails):
    if summary_fails:
        monkeypatch.setattr(metrics, "summary", lambda: 1 / 0)
    api_schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_app())
    case = api_schema["/api/health"]["GET"].Case()

    response = case.call()

    assert "metrics" in response.json()
    case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])


def test_the_mqtt_check_reports_the_broker_and_the_live_ingest_processes_lag(settings):
    import redis

    from fleet.mqtt_ingest import heartbeat_key, write_heartbeat

    client = redis.Redis.from_url(settings.REDIS_URL)
    name = f"health-test-{os.getpid()}"
    try:
        write_heartbeat(client, name, batch_at=time.time() - 2, lag_s=0.25)
        detail = health.check_mqtt()
    finally:
        client.delete(heartbeat_key(name))
        client.close()
    assert detail["broker"] == "127.0.0.1:1883"  # the default MQTT_URL: the machine's broker
    mine = [process for process in detail["ingest"] if process["name"] == name]
    assert mine == [{"name": name, "last_batch_age_s": pytest.approx(2, abs=1), "lag_s": 0.25}]


def test_the_mqtt_check_fails_within_the_deadline_when_the_broker_hangs(settings, hanging_server):
    settings.MQTT_URL = f"mqtt://127.0.0.1:{hanging_server}"
    checks = {"mqtt": health.check_mqtt, "fine": lambda: {}}
    started = time.monotonic()
    results = health.run_checks(checks, timeout_s=1.5)
    assert time.monotonic() - started < 2.0
    assert results["mqtt"].status in {health.FAILED, health.TIMEOUT} and results["fine"].status == health.OK
    assert "did not answer" in results["mqtt"].detail["error"] or results["mqtt"].status == health.TIMEOUT
