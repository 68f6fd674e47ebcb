"""Component checks behind /api/health, each bounded in time so a hanging server cannot hang the endpoint.

Every check runs in its own daemon thread; whatever has not answered by the deadline is reported as a
timeout, and its thread is abandoned (each check carries its own socket timeouts, so it ends soon after).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import connections

from smartmine.platform import metrics
from smartmine.platform.mqtt import Broker, probe

#: How long the worker check collects replies: every worker answers within it (a broadcast has no count).
WORKER_REPLY_S = 0.5

OK, FAILED, TIMEOUT = "ok", "failed", "timeout"


@dataclass
class CheckResult:
    status: str
    latency_ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "latency_ms": self.latency_ms, **self.detail}


def check_database() -> dict[str, Any]:
    """A fresh connection with Django's own settings, outside the pool: the server must answer now."""
    params = connections["default"].get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**{**params, "connect_timeout": 1}) as connection:
        connection.execute("SET statement_timeout = 1000")
        connection.execute("SELECT 1").fetchone()
    return {}


def check_redis() -> dict[str, Any]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def check_worker() -> dict[str, Any]:
    """A Celery worker must answer a broadcast ping; no worker means ticks and retraining stop.

    The first answer is enough (a busy machine may keep the others late): which queues have no worker is
    asked only when the simulation is stale (check_simulation), where it explains why.
    """
    from smartmine.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=1)
        replies = app.control.ping(timeout=1.0, limit=1, connection=connection)
    if not replies:
        raise RuntimeError("no Celery worker answered")
    return {"workers": sorted(name for reply in replies for name in reply)}


def check_simulation() -> dict[str, Any]:
    """How old the newest simulation tick is, against the configured interval; when stale, whether any
    worker serves the tick queue."""
    from fleet.selectors import last_tick_age_s  # the fleet app owns ticks

    age_s = last_tick_age_s()
    if age_s is None:
        return {"last_tick_age_s": None, "note": "no active site has ticked yet"}
    stale_after_s = max(60.0, 5 * settings.SIMULATION_INTERVAL_S)
    if age_s > stale_after_s:
        raise RuntimeError(
            f"last tick {age_s:.0f} s ago (stale after {stale_after_s:.0f} s){_tick_workers()}"
        )
    return {"last_tick_age_s": round(age_s, 1)}


def _tick_workers() -> str:
    """Why ticks may have stopped: no worker consumes the tick queue (each worker lists its queues)."""
    from smartmine.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=1)
            replies = app.control.inspect(timeout=WORKER_REPLY_S, connection=connection).active_queues()
    except Exception as error:  # a hint only: the stale tick is the failure
        return f"; workers not asked ({type(error).__name__})"
    serving = {queue["name"] for served in (replies or {}).values() for queue in served}
    if settings.TICK_QUEUE in serving:
        return ""
    return f"; no worker serves the {settings.TICK_QUEUE!r} queue"


def check_models() -> dict[str, Any]:
    """The failure models' state (training, ready, failed, no_model) and a bootstrap's progress. Informative
    only: a twin without a model yet still runs, so this component never fails (unreadable: `state` unknown).
    """
    from analytics.scoring.selectors import model_state  # the analytics app owns the registry

    try:
        state = model_state()
    except Exception as error:  # never turns health red; the database check reports a database down
        return {"state": "unknown", "error": f"{type(error).__name__}: {error}"}
    bootstrap = state["bootstrap"]
    return {
        "state": state["status"],
        "active": sorted(state["models"]),
        **(
            {"bootstrap": {k: bootstrap[k] for k in ("status", "step", "progress", "error")}}
            if bootstrap
            else {}
        ),
    }


def check_mqtt() -> dict[str, Any]:
    """The broker accepts the ingest user (MQTT_URL); the ingest processes alive and their last batch's lag
    (commit time minus its newest reading's time) are reported, informative: telemetry may simply be quiet."""
    from fleet.mqtt_ingest import read_heartbeats  # the fleet app owns the ingest

    broker = Broker.from_url(settings.MQTT_URL)
    probe(broker, timeout_s=1.0)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
    try:
        ingest = read_heartbeats(client)
    except redis.RedisError as error:  # the redis check reports Redis itself
        return {"broker": broker.where, "ingest": None, "ingest_error": f"{type(error).__name__}: {error}"}
    finally:
        client.close()
    return {"broker": broker.where, "ingest": ingest}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": check_database,
    "redis": check_redis,
    "worker": check_worker,
    "simulation": check_simulation,
    "models": check_models,
    "mqtt": check_mqtt,
}


def run_checks(checks: dict[str, Callable[[], dict[str, Any]]], timeout_s: float) -> dict[str, CheckResult]:
    """Run every check concurrently and return within timeout_s, whatever the checks do."""
    results: dict[str, CheckResult] = {}
    lock = threading.Lock()

    def run(name: str, check: Callable[[], dict[str, Any]]) -> None:
        started = time.perf_counter()
        try:
            detail = check()
            result = CheckResult(OK, detail=detail)
        except Exception as error:  # a health check reports every failure, it never raises
            result = CheckResult(FAILED, detail={"error": f"{type(error).__name__}: {error}"})
        finally:
            # Django connections are per thread and this thread ends here: hand back what the check took
            # (a pooled connection left in a dead thread would never return to the pool).
            connections.close_all()
        result.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        with lock:
            results[name] = result

    threads = [
        threading.Thread(target=run, args=item, daemon=True, name=f"health-{item[0]}")
        for item in checks.items()
    ]
    deadline = time.monotonic() + timeout_s
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        return {
            name: results.get(name)
            or CheckResult(
                TIMEOUT, latency_ms=timeout_s * 1000, detail={"error": f"no answer in {timeout_s} s"}
            )
            for name in checks
        }


def metrics_summary() -> dict[str, Any]:
    """What /metrics exports, condensed; it informs but never decides the status, and never fails health."""
    try:
        metrics.sample_process("web")
        return metrics.summary()
    except Exception as error:  # like a check: reported in the body, never raised
        return {"error": f"{type(error).__name__}: {error}"}
