"""Prometheus metrics of the running system, defined once and imported where their events happen."""

from prometheus_client import Counter, Gauge, Histogram

BROADCASTS = Counter(
    "smartmine_broadcasts_total", "Channel-layer group sends of live updates", ["stream", "outcome"]
)
WS_CONNECTIONS = Gauge("smartmine_websocket_connections", "Open WebSocket connections")
WS_MESSAGES = Counter(
    "smartmine_websocket_messages_total", "WebSocket messages to clients", ["type", "outcome"]
)  # outcome: sent, dropped (slow client: replaced by a fresh snapshot later)
WS_CLOSED_FOR_POLICY = Counter("smartmine_websocket_policy_closes_total", "Connections closed for flooding")
TICK_DURATION = Histogram(
    "smartmine_tick_duration_seconds",
    "Simulation tick time by phase",
    ["phase"],  # step, persist, broadcast, total
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TICKS = Counter("smartmine_ticks_total", "Simulation ticks", ["outcome"])  # applied, skipped, failed
TICK_LAG = Gauge("smartmine_tick_lag_seconds", "How far the last tick ran behind its schedule", ["site"])
READINGS_INGESTED = Counter(
    "smartmine_readings_ingested_total", "Readings written to history", ["kind", "source"]
)
