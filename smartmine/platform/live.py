"""The live protocol's vocabulary and the only place that calls `group_send`.

Streams are published per site: one channel-layer message per stream per tick carrying every changed item,
already encoded once as the frame clients receive. Consumers join the site group of each stream they need and
narrow to a zone or one piece of equipment themselves, so a tick costs one `group_send` per stream however
many clients and subscriptions there are.

Client-facing group names (documented in docs/live.md):
    trucks | crushers | stockpiles | ai | alerts | kpis        the default site, site-wide
    trucks@2                                                   site 2, site-wide
    trucks@2/zone/3                                            site 2, items in zone 3
    truck/5 | loader/4 | crusher/2 | stockpile/1               one piece of equipment (its site is looked up)
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

logger = logging.getLogger(__name__)

#: stream -> the message type its updates carry (the original client's four types first).
STREAM_TYPES: dict[str, str] = {
    "trucks": "truck_update",
    "crushers": "crusher_update",
    "stockpiles": "stockpile_update",
    "ai": "ai_recommendation",
    "alerts": "alert",
    "kpis": "kpi_update",
}
#: Extra message types on a stream besides its main one (anomalies travel with alerts).
EXTRA_TYPES: dict[str, str] = {"anomaly": "alerts"}
#: equipment kind in a per-equipment group -> the stream its updates come on.
EQUIPMENT_STREAMS: dict[str, str] = {
    "truck": "trucks",
    "loader": "trucks",  # loaders ride on the fleet stream (a truck_update item with "kind": "loader")
    "crusher": "crushers",
    "stockpile": "stockpiles",
}
SERVER_TYPES = (*STREAM_TYPES.values(), *EXTRA_TYPES, "snapshot", "subscribed", "error", "pong")

# --- What each app serves on the streams: registered by the app that owns the data, in its ready()

#: rows(site_id=, ids=) -> a stream's current items of one site (every item, or only the units in `ids`).
StreamRows = Callable[..., list[dict[str, Any]]]
_STREAM_ROWS: dict[str, StreamRows] = {}
#: equipment kind of a per-equipment group -> the site a unit of that kind belongs to (None: no such unit).
_EQUIPMENT_SITES: dict[str, Callable[[int], int | None]] = {}


def register_stream(stream: str, rows: StreamRows) -> None:
    """Declare who builds a stream's items: snapshots, overflow resyncs and the tick's updates all call it."""
    if stream not in STREAM_TYPES:
        raise ValueError(f"unknown stream {stream!r}: one of {', '.join(STREAM_TYPES)}")
    if _STREAM_ROWS.get(stream, rows) is not rows:
        raise ValueError(f"stream {stream!r} is already served by {_STREAM_ROWS[stream].__qualname__}")
    _STREAM_ROWS[stream] = rows


def register_equipment(kind: str, site_of: Callable[[int], int | None]) -> None:
    """Declare how a per-equipment group (`truck/5`) finds its unit's site."""
    if kind not in EQUIPMENT_STREAMS:
        raise ValueError(f"unknown equipment kind {kind!r}: one of {', '.join(EQUIPMENT_STREAMS)}")
    _EQUIPMENT_SITES[kind] = site_of


def stream_rows(stream: str, site_id: int, ids: Collection[int] | None = None) -> list[dict[str, Any]]:
    """Current items of one stream of one site (only the units in `ids` when given); [] if none serves it."""
    rows = _STREAM_ROWS.get(stream)
    return [] if rows is None else rows(site_id=site_id, ids=ids)


def equipment_site(kind: str, equipment_id: int) -> int | None:
    site_of = _EQUIPMENT_SITES.get(kind)
    return None if site_of is None else site_of(equipment_id)


_GROUP = re.compile(
    r"^(?:(?P<stream>[a-z]+)(?:@(?P<site>\d{1,12}))?(?:/zone/(?P<zone>\d{1,12}))?"
    r"|(?P<kind>[a-z]+)/(?P<id>\d{1,12}))$"
)


class GroupError(ValueError):
    """A group name a client sent that does not exist; the message is sent back to the client."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """One parsed client group: a stream of one site, optionally narrowed to a zone or one unit."""

    name: str  # as the client wrote it, echoed back in `subscribed`
    stream: str
    site_id: int | None  # None: the default site (resolved by the consumer)
    zone_id: int | None = None
    equipment_kind: str | None = None
    equipment_id: int | None = None

    def matches(self, item: dict[str, Any]) -> bool:
        """Whether an update item belongs to this subscription (site-wide subscriptions take everything)."""
        if self.zone_id is not None:
            return item.get("zone_id") == self.zone_id
        if self.equipment_id is not None:
            return (
                item.get("id") == self.equipment_id
                and item.get("kind", self.equipment_kind) == self.equipment_kind
            )
        return True

    @property
    def site_wide(self) -> bool:
        return self.zone_id is None and self.equipment_id is None


def parse_group(name: Any) -> Subscription:
    """Parse a client group name, or raise GroupError saying what is wrong with it."""
    if not isinstance(name, str) or len(name) > 64:
        raise GroupError(f"group names are strings of at most 64 characters, got {str(name)[:64]!r}")
    match = _GROUP.match(name)
    if not match:
        raise GroupError(
            f"unknown group {name!r}: expected e.g. 'trucks', 'trucks@1', 'trucks@1/zone/2', 'truck/5'"
        )
    if match["kind"]:
        kind = match["kind"]
        if kind not in EQUIPMENT_STREAMS:
            raise GroupError(
                f"unknown equipment kind {kind!r} in {name!r}: one of {', '.join(EQUIPMENT_STREAMS)}"
            )
        return Subscription(
            name, EQUIPMENT_STREAMS[kind], None, equipment_kind=kind, equipment_id=int(match["id"])
        )
    stream = match["stream"]
    if stream not in STREAM_TYPES:
        raise GroupError(f"unknown stream {stream!r} in {name!r}: one of {', '.join(STREAM_TYPES)}")
    if match["zone"] and stream not in {"trucks", "crushers", "stockpiles"}:
        raise GroupError(f"stream {stream!r} has no zone groups")
    site = int(match["site"]) if match["site"] else None
    zone = int(match["zone"]) if match["zone"] else None
    return Subscription(name, stream, site, zone_id=zone)


def channel_group(stream: str, site_id: int) -> str:
    """The channel-layer group of one stream of one site (the only group naming in the project)."""
    return f"sm.{stream}.s{site_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def frame(message_type: str, site_id: int | None, data: Any, **extra: Any) -> dict[str, Any]:
    """Every server message has this shape: type, timestamp, site, data (plus a few typed extras)."""
    return {"type": message_type, "timestamp": now_iso(), "site": site_id, "data": data, **extra}


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS).decode()


def group_message(stream: str, message: dict[str, Any]) -> dict[str, Any]:
    """The channel-layer envelope: the frame encoded once as the text clients receive.

    Only the text travels (channel layers serialise with msgpack, which knows no datetimes); consumers
    narrowed to a zone or one unit decode it and filter.
    """
    return {"type": "live.update", "stream": stream, "site": message["site"], "text": encode(message)}


#: How long a send may take before it counts as failed (Redis unreachable: the tick must not hang on it).
SEND_TIMEOUT_S = 10.0


class _SendLoop:
    """One event loop, in a thread of its own, for the channel-layer sends of a process's synchronous code.

    `async_to_sync` called from a worker's sync code starts a thread and a new event loop for every call,
    and the channel layer opens a Redis connection for each loop: a tick's four streams cost four threads,
    loops and connections a second, and each new thread's malloc arena added to the tick worker's memory.
    This loop starts on first use in each process (a forked pool process starts its own) and keeps the
    layer's connection between ticks.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="channel-layer-sends", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout_s: float = SEND_TIMEOUT_S) -> Any:
        """The coroutine's result, run on the loop; TimeoutError (and the send cancelled) after timeout_s."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running())
        try:
            return future.result(timeout_s)
        except TimeoutError:
            future.cancel()
            raise


_sends = _SendLoop()


def publish(site_id: int, updates: dict[str, list[dict[str, Any]]]) -> int:
    """Send each stream's items of one tick to its site group; returns how many sends failed.

    A failed broadcast is logged and counted, never raised: the tick that produced the data has committed.
    Call it from `transaction.on_commit` (see `publish_on_commit`) so nobody sees rolled-back data.
    Synchronous code only (a worker, a command); the sends run on this process's send loop (_SendLoop).
    """
    from channels.layers import get_channel_layer

    from smartmine.platform import metrics

    layer = get_channel_layer()
    failures = 0
    for message_type, items in updates.items():
        if not items:
            continue
        stream = _stream_of(message_type)
        envelope = group_message(stream, frame(message_type, site_id, items))
        try:
            _sends.run(layer.group_send(channel_group(stream, site_id), envelope))
            metrics.BROADCASTS.labels(stream=stream, outcome="sent").inc()
        except Exception:  # Redis down or the message too large: the tick stands, the stream misses one beat
            failures += 1
            metrics.BROADCASTS.labels(stream=stream, outcome="failed").inc()
            logger.exception("broadcast failed", extra={"site": site_id, "stream": stream})
    return failures


def publish_on_commit(site_id: int, updates: dict[str, list[dict[str, Any]]]) -> None:
    """Publish after the current transaction commits (immediately when there is none)."""
    from django.db import transaction

    transaction.on_commit(lambda: publish(site_id, updates))


def _stream_of(message_type: str) -> str:
    for stream, main_type in STREAM_TYPES.items():
        if main_type == message_type:
            return stream
    if message_type in EXTRA_TYPES:
        return EXTRA_TYPES[message_type]
    raise ValueError(f"no stream carries message type {message_type!r}")
