"""Prometheus metrics of the running system, defined once and imported where their events happen.

Web, worker and beat are separate processes (and the worker forks children), so `make run` sets
PROMETHEUS_MULTIPROC_DIR for all of them and /metrics aggregates every process's values; without it (tests,
one process) the default registry is used.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

BROADCASTS = Counter(
    "smartmine_broadcasts_total", "Channel-layer group sends of live updates", ["stream", "outcome"]
)
WS_CONNECTIONS = Gauge(
    "smartmine_websocket_connections", "Open WebSocket connections", multiprocess_mode="livesum"
)
WS_MESSAGES = Counter(
    "smartmine_websocket_messages_total", "WebSocket messages to clients", ["type", "outcome"]
)  # outcome: sent, dropped (slow client: replaced by a fresh snapshot later)
WS_CLOSED_FOR_POLICY = Counter("smartmine_websocket_policy_closes_total", "Connections closed for flooding")
TICK_DURATION = Histogram(
    "smartmine_tick_duration_seconds",
    "Simulation tick time by phase",
    ["phase"],  # load, step, persist, broadcast, total
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TICKS = Counter("smartmine_ticks_total", "Simulation ticks (rate() gives ticks per minute)", ["outcome"])
TICK_STATE_LOADS = Counter(
    "smartmine_tick_state_loads_total",
    "Engine states a tick started from: kept in the worker's memory, or parsed from the site row",
    ["source"],
)
TICK_LAG = Gauge(
    "smartmine_tick_lag_seconds",
    "How far the last tick ran behind its schedule",
    ["site"],
    multiprocess_mode="max",
)
READINGS_INGESTED = Counter(
    "smartmine_readings_ingested_total", "Readings written to history", ["kind", "source"]
)
MQTT_MESSAGES = Counter(
    "smartmine_mqtt_messages_total", "MQTT telemetry messages by outcome", ["outcome"]
)  # outcome: accepted, partly_rejected, rejected
MQTT_REJECTED = Counter(
    "smartmine_mqtt_rejected_total",
    "MQTT telemetry refused, by reason (a whole message, or one reading of it)",
    ["reason"],  # fleet.mqttformat.REASONS
)
MQTT_INGEST_LAG = Gauge(
    "smartmine_mqtt_ingest_lag_seconds",
    "Commit time minus the newest reading's time in the last MQTT batch, per ingest process",
    ["process"],
    multiprocess_mode="liveall",
)
MQTT_BATCH_READINGS = Histogram(
    "smartmine_mqtt_batch_readings",
    "Readings in each MQTT batch committed (small batches under load: each costs its units' state, ledger "
    "and alarm work once)",
    buckets=(10, 100, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000),
)
API_LATENCY = Histogram(
    "smartmine_api_request_duration_seconds",
    "HTTP request time by view, method and status",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CELERY_TASKS = Counter("smartmine_celery_tasks_total", "Celery task outcomes", ["task", "outcome"])
PROCESS_MEMORY = Gauge(
    "smartmine_process_resident_memory_bytes", "Peak resident memory", ["role"], multiprocess_mode="liveall"
)
PROCESS_CPU = Gauge("smartmine_process_cpu_seconds", "CPU time used", ["role"], multiprocess_mode="liveall")
ML_MODEL_AGE = Gauge(
    "smartmine_ml_model_age_seconds", "Age of the active model of each kind", ["kind"],
    multiprocess_mode="livemax",
)  # fmt: skip
ML_MODEL_VALIDATION = Gauge(
    "smartmine_ml_model_validation", "Validation figure of the active model", ["kind", "metric"],
    multiprocess_mode="livemax",
)  # fmt: skip
ML_LIVE_ACCURACY = Gauge(
    "smartmine_ml_live_accuracy",
    "Past predictions against what then happened (accuracy, brier, warning precision/recall)",
    ["kind", "metric"],
    multiprocess_mode="livemax",
)


def sample_process(role: str) -> None:
    """Record this process's memory and CPU (each process samples itself: web at scrape, workers per task)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    PROCESS_MEMORY.labels(role=role).set(usage.ru_maxrss * 1024)  # Linux reports KiB
    PROCESS_CPU.labels(role=role).set(usage.ru_utime + usage.ru_stime)


#: Extra collectors that read the database at scrape time (e.g. model accuracy and age), added by apps.
SCRAPE_HOOKS: list[Callable[[], None]] = []


def installation_registry() -> CollectorRegistry:
    """Every process's values when PROMETHEUS_MULTIPROC_DIR is set, else this process's default registry."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition() -> bytes:
    """The text format of every metric of every process of this installation."""
    sample_process("web")
    for hook in SCRAPE_HOOKS:
        hook()
    return generate_latest(installation_registry())


Samples = dict[str, list[tuple[dict[str, str], float]]]


def summary() -> dict[str, Any]:
    """The figures /metrics exports, condensed for /api/health from one collect of the same registry.

    Reads only what is already recorded (no scrape hooks, no I/O): ML figures are those of the last scrape.
    """
    samples: Samples = defaultdict(list)
    for family in installation_registry().collect():
        for sample in family.samples:
            samples[sample.name].append((sample.labels, sample.value))
    requests = samples["smartmine_api_request_duration_seconds_count"]
    return {
        "api": {
            "requests": _count(requests),
            "server_errors": _count([row for row in requests if row[0].get("status", "").startswith("5")]),
            "p50_ms": _ms(_quantile(0.5, samples["smartmine_api_request_duration_seconds_bucket"])),
            "p99_ms": _ms(_quantile(0.99, samples["smartmine_api_request_duration_seconds_bucket"])),
        },
        "websocket": {
            "connections": _count(samples["smartmine_websocket_connections"]),
            "messages_sent": _count(samples["smartmine_websocket_messages_total"], outcome="sent"),
            "messages_dropped": _count(samples["smartmine_websocket_messages_total"], outcome="dropped"),
            "policy_closes": _count(samples["smartmine_websocket_policy_closes_total"]),
        },
        "ticks": {
            "applied": _count(samples["smartmine_ticks_total"], outcome="applied"),
            "skipped": _count(samples["smartmine_ticks_total"], outcome="skipped"),
            "p95_ms": _ms(_quantile(0.95, samples["smartmine_tick_duration_seconds_bucket"], phase="total")),
            "max_lag_s": _s(max((value for _, value in samples["smartmine_tick_lag_seconds"]), default=None)),
        },
        "readings_ingested": _count(samples["smartmine_readings_ingested_total"]),
        "mqtt": {
            "messages": _count(samples["smartmine_mqtt_messages_total"]),
            "rejected": _count(samples["smartmine_mqtt_rejected_total"]),
        },
        "celery": {
            outcome: _count(samples["smartmine_celery_tasks_total"], outcome=outcome)
            for outcome in ("success", "failure", "retry")
        },
        "processes": _processes_by_role(samples),
        "ml": _models_by_kind(samples),
    }


def _count(rows: list[tuple[dict[str, str], float]], **labels: str) -> int:
    return round(sum(value for row_labels, value in rows if labels.items() <= row_labels.items()))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def _quantile(q: float, buckets: list[tuple[dict[str, str], float]], **labels: str) -> float | None:
    """Prometheus's histogram_quantile over every series of a histogram: linear within the bucket that holds
    the q-th observation, and the highest finite bound when that observation lies beyond it."""
    cumulative: dict[float, float] = defaultdict(float)
    for row_labels, value in buckets:
        if labels.items() <= row_labels.items():
            cumulative[float(row_labels["le"])] += value
    total = cumulative.pop(math.inf, 0.0)
    if not total:
        return None
    rank = q * total
    lower_bound, count_below = 0.0, 0.0
    for bound in sorted(cumulative):
        count = cumulative[bound]
        if count >= rank:
            return lower_bound + (bound - lower_bound) * (rank - count_below) / (count - count_below)
        lower_bound, count_below = bound, count
    return lower_bound


def _processes_by_role(samples: Samples) -> dict[str, dict[str, float]]:
    """Summed over the processes of each role (one series per process under multiprocess)."""
    memory_bytes: dict[str, float] = defaultdict(float)
    cpu_s: dict[str, float] = defaultdict(float)
    for labels, value in samples["smartmine_process_resident_memory_bytes"]:
        memory_bytes[labels["role"]] += value
    for labels, value in samples["smartmine_process_cpu_seconds"]:
        cpu_s[labels["role"]] += value
    return {
        role: {"peak_memory_bytes": round(memory_bytes[role]), "cpu_s": round(cpu_s[role], 2)}
        for role in sorted(memory_bytes.keys() | cpu_s.keys())
    }


def _models_by_kind(samples: Samples) -> dict[str, dict[str, Any]]:
    kinds: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"age_s": None, "validation": {}, "live_accuracy": {}}
    )
    for labels, value in samples["smartmine_ml_model_age_seconds"]:
        kinds[labels["kind"]]["age_s"] = round(value, 1)
    for labels, value in samples["smartmine_ml_model_validation"]:
        kinds[labels["kind"]]["validation"][labels["metric"]] = value
    for labels, value in samples["smartmine_ml_live_accuracy"]:
        kinds[labels["kind"]]["live_accuracy"][labels["metric"]] = value
    return dict(kinds)


class RequestMetricsMiddleware:
    """Times every request into API_LATENCY, labelled by URL pattern (bounded cardinality), not by path."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: Any):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.route) if match else "unmatched"
        API_LATENCY.labels(view=view, method=request.method, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response


def connect_celery_signals() -> None:
    from celery.signals import task_failure, task_postrun, task_retry, task_success

    def count(outcome: str) -> Callable[..., None]:
        def handler(sender: Any = None, **_: Any) -> None:
            CELERY_TASKS.labels(task=getattr(sender, "name", str(sender)), outcome=outcome).inc()

        return handler

    for signal, outcome in ((task_success, "success"), (task_failure, "failure"), (task_retry, "retry")):
        signal.connect(count(outcome), weak=False)
    task_postrun.connect(lambda **_: sample_process("worker"), weak=False)
