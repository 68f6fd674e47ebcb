"""The one live consumer: subscriptions, snapshots, per-tick deltas, errors, flood and slow-client control.

Served at ws://WEBSOCKET_HOST:WEBSOCKET_PORT/ (the original client's address) and at /ws/live/ on the API
port. The protocol is documented in docs/live.md; the group vocabulary and publishing live in
smartmine.platform.live. Deltas do not come through this consumer's channel: the process's fan-out
(smartmine.platform.fanout) joins each group once and calls `deliver` on every local consumer, which
writes the frame framed once for everyone (smartmine.platform.wsframe) without a task or an await.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from smartmine import snapshots
from smartmine.platform import fanout, live, metrics
from smartmine.platform.wsframe import DirectWriter, text_frame

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 16 * 1024  # client messages are tiny commands; anything bigger is a mistake or an attack
MAX_SUBSCRIPTIONS = 200
#: Token bucket for client messages: a burst of 20, then 5 per second; a client far past it is closed.
RATE_PER_S, BURST, FLOOD_STRIKES = 5.0, 20.0, 20
#: Outgoing backlog (bytes not yet written to the socket) past which deltas are dropped for this client;
#: once it drains below LOW_WATER the client gets a fresh snapshot instead of the deltas it missed.
HIGH_WATER_BYTES, LOW_WATER_BYTES = 1_000_000, 100_000
#: Deltas kept back while a snapshot is being built (a subscribe or a resync), sent right after it; past
#: this many the client is treated as behind and gets a fresh snapshot at the next delta instead.
HELD_FRAMES = 64
#: Close code for a client far past the rate limit: 1008 ("policy violation") moved to the application range.
#: An application may only close with 1000 or 3000-4999: under daphne, autobahn raises on 1008 itself, the
#: consumer dies and the client sees 1011 (internal error) instead.
POLICY_VIOLATION = 4008


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.subscriptions: dict[str, live.Subscription] = {}
        self.joined: set[str] = set()  # channel-layer groups, joined through the process's fan-out
        self.fanout = fanout.hub(self.channel_layer, _count_deltas)
        self.tokens, self.refilled_at, self.strikes = BURST, time.monotonic(), 0
        self.behind = False
        self.closed_for_flood = False
        self.writer: DirectWriter | None = None
        self.outbox: deque[str] = deque()  # only without a direct writer (Channels' test communicator)
        self.pump: asyncio.Task | None = None
        self.holding, self.held = 0, []  # snapshots being built; deltas waiting behind them
        self.resync: asyncio.Task | None = None
        if not _origin_allowed(self.scope):
            await self.close(code=4003)
            return
        user = self.scope.get("user")
        if not (user is not None and user.is_authenticated) and not settings.API_ALLOW_ANONYMOUS_READ:
            await self.close(code=4001)  # 4001: authentication required (4000-4999 are application codes)
            return
        await self.accept()
        self.writer = DirectWriter.for_send(self.base_send)
        metrics.WS_CONNECTIONS.inc()
        self.counted = True
        default_site = await database_sync_to_async(snapshots.default_site_id)()
        if default_site is None:
            await self.send_error("no site exists yet: seed one with `manage.py seed_site`")
            return
        await self.subscribe([f"{stream}@{default_site}" for stream in live.STREAM_TYPES])

    async def __call__(self, scope, receive, send) -> None:
        """Leave the fan-out however the connection ends: a consumer whose channel layer failed (Redis away)
        dies without `disconnect`, and must not stay a member of its groups."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.leave_all()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "counted", False):
            metrics.WS_CONNECTIONS.dec()
        await self.leave_all()

    async def leave_all(self) -> None:
        if getattr(self, "resync", None) is not None:
            self.resync.cancel()
        for group in getattr(self, "joined", set()).copy():
            await self.fanout.leave(group, self)
        self.joined = set()

    # --- client -> server ---------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closed_for_flood:
            return  # the rest of the flood, already queued when the socket was closed
        if not self.take_token():
            if self.strikes >= FLOOD_STRIKES:
                self.closed_for_flood = True
                metrics.WS_CLOSED_FOR_POLICY.inc()
                await self.close(code=POLICY_VIOLATION)
            return
        raw = text_data if text_data is not None else bytes_data
        if raw is None or len(raw) > MAX_FRAME_BYTES:
            await self.send_error(f"message too large: at most {MAX_FRAME_BYTES} bytes")
            return
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            await self.send_error(f"invalid JSON: {error}")
            return
        if not isinstance(message, dict):
            await self.send_error("a message must be a JSON object with an 'action'")
            return
        action = message.get("action")
        if action == "ping":
            await self.send_frame(live.frame("pong", None, None, echo=message.get("data")))
        elif action in {"subscribe", "unsubscribe"}:
            groups = message.get("groups")
            if not isinstance(groups, list) or not groups or len(groups) > MAX_SUBSCRIPTIONS:
                await self.send_error(
                    f"'{action}' needs 'groups': a list of 1 to {MAX_SUBSCRIPTIONS} group names"
                )
                return
            await (self.subscribe(groups) if action == "subscribe" else self.unsubscribe(groups))
        else:
            await self.send_error(f"unknown action {action!r}: one of subscribe, unsubscribe, ping")

    def take_token(self) -> bool:
        """Token-bucket rate limit; each message over it is a strike, and enough strikes close the socket."""
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.refilled_at) * RATE_PER_S)
        self.refilled_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.strikes += 1
        return False

    async def subscribe(self, names: list[Any]) -> None:
        try:
            parsed = [live.parse_group(name) for name in names]
            resolved = await database_sync_to_async(_resolve_all)(parsed)
        except live.GroupError as error:
            await self.send_error(str(error))
            return
        if len(self.subscriptions) + len(resolved) > MAX_SUBSCRIPTIONS:
            await self.send_error(f"at most {MAX_SUBSCRIPTIONS} subscriptions per connection")
            return
        self.hold()  # deltas of the groups joined now come after the snapshot and `subscribed`
        try:
            for subscription in resolved:
                self.subscriptions[subscription.name] = subscription
                group = live.channel_group(subscription.stream, subscription.site_id)
                if group not in self.joined:
                    await self.fanout.join(group, self)
                    self.joined.add(group)
            await self.send_snapshot(resolved)
            await self.send_frame(live.frame("subscribed", None, sorted(self.subscriptions)))
        finally:
            self.release()

    async def unsubscribe(self, names: list[Any]) -> None:
        unknown = [name for name in names if name not in self.subscriptions]
        if unknown:
            await self.send_error(f"not subscribed to {', '.join(map(str, unknown))}")
            return
        for name in names:
            del self.subscriptions[name]
        still_needed = {live.channel_group(s.stream, s.site_id) for s in self.subscriptions.values()}
        for group in self.joined - still_needed:
            await self.fanout.leave(group, self)
        self.joined &= still_needed
        await self.send_frame(live.frame("subscribed", None, sorted(self.subscriptions)))

    # --- server -> client ---------------------------------------------------------------------------------

    def deliver(self, frame: fanout.Frame) -> str | None:
        """One stream's items of one tick, for every subscription of ours that it concerns (never blocks).

        Called by the process's fan-out for every local consumer in turn, so it must not wait: a slow
        client's bytes queue in its own transport up to HIGH_WATER_BYTES, then its deltas are dropped and it
        gets a fresh snapshot once it has drained below LOW_WATER_BYTES (docs/live.md, "Slow clients").
        """
        interested = [
            s for s in self.subscriptions.values() if s.stream == frame.stream and s.site_id == frame.site
        ]
        if not interested:
            return None
        if self.holding:
            if len(self.held) < HELD_FRAMES:
                self.held.append(frame)
                return None
            self.behind = True
            return "dropped"
        backlog = self.outgoing_backlog()
        if self.behind or backlog > HIGH_WATER_BYTES:
            if backlog > LOW_WATER_BYTES:
                self.behind = True
                return "dropped"
            self.behind = False  # drained: the latest state replaces every delta it missed
            self.hold()  # from now on, not once the task starts: later deltas must follow the snapshot
            self.resync = asyncio.create_task(self.resync_all())
            return None
        if any(s.site_wide for s in interested):
            self.emit(frame.text, frame.wire)  # encoded and framed once by the fan-out, for everyone
            return "sent"
        text = frame.filtered(interested)
        if text is None:
            return None
        self.emit(text)
        return "sent"

    async def resync_all(self) -> None:
        """The snapshot that replaces the deltas a slow client missed (`hold` was called for it)."""
        try:
            await self.send_snapshot(list(self.subscriptions.values()))
        finally:
            self.release()

    def hold(self) -> None:
        """Keep deltas back until the matching `release` (a snapshot is being built)."""
        self.holding += 1

    def release(self) -> None:
        self.holding -= 1
        if self.holding:
            return
        held, self.held = self.held, []
        if self.behind:
            return  # too many came: the next delta brings a fresh snapshot instead
        for frame in held:
            outcome = self.deliver(frame)
            if outcome:
                _count_deltas(frame.stream, outcome, 1)

    async def send_snapshot(self, subscriptions: list[live.Subscription]) -> None:
        data = await database_sync_to_async(snapshots.build)(subscriptions)
        sites = {s.site_id for s in subscriptions}
        await self.send_frame(live.frame("snapshot", sites.pop() if len(sites) == 1 else None, data))

    async def send_error(self, text: str) -> None:
        await self.send_frame(live.frame("error", None, None, message=text))

    async def send_frame(self, message: dict[str, Any]) -> None:
        self.emit(live.encode(message))
        metrics.WS_MESSAGES.labels(type=message["type"], outcome="sent").inc()

    def emit(self, text: str, wire: bytes | None = None) -> None:
        """Queue one frame for this client, after every frame before it; `wire` is `text` already framed."""
        if self.writer is not None:
            self.writer.write(wire if wire is not None else text_frame(text.encode()))
            return
        self.outbox.append(text)
        if self.pump is None or self.pump.done():
            self.pump = asyncio.create_task(self.send_outbox())

    async def send_outbox(self) -> None:
        while self.outbox:
            await self.send(text_data=self.outbox[0])
            self.outbox.popleft()

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Close after the frames already queued (an error saying why comes before the close)."""
        if getattr(self, "pump", None) is not None:
            await self.pump
        await super().close(code=code, reason=reason)

    def outgoing_backlog(self) -> int:
        """Bytes queued for this client but not yet on the wire.

        Under daphne the direct writer reads the Twisted transport's buffer; under Channels' test
        communicator frames wait in the outbox and then in an asyncio.Queue of messages.
        """
        if self.writer is not None:
            return self.writer.backlog()
        waiting = sum(len(text) for text in self.outbox)
        send = self.base_send
        while hasattr(getattr(send, "__self__", None), "real_send"):  # session middleware wraps `send`
            send = send.__self__.real_send
        protocol = getattr(send, "args", (None,))[0]
        transport = getattr(protocol, "transport", None)
        if transport is not None:
            buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
            return waiting + buffered + getattr(transport, "_tempDataLen", 0)
        queue = getattr(send, "__self__", None)
        if isinstance(queue, asyncio.Queue):
            waiting += sum(len(item.get("text") or item.get("bytes") or b"") for item in list(queue._queue))
        return waiting


def _count_deltas(stream: str, outcome: str, number: int) -> None:
    metrics.WS_MESSAGES.labels(type=live.STREAM_TYPES[stream], outcome=outcome).inc(number)


def _resolve_all(subscriptions: list[live.Subscription]) -> list[live.Subscription]:
    """Fill in default sites and the sites of per-equipment groups; unknown sites or units are errors."""
    resolved = []
    for subscription in subscriptions:
        site_id = subscription.site_id
        if subscription.equipment_id is not None:
            site_id = live.equipment_site(subscription.equipment_kind, subscription.equipment_id)
            if site_id is None:
                raise live.GroupError(
                    f"unknown group {subscription.name!r}: no such {subscription.equipment_kind}"
                )
        elif site_id is None:
            site_id = snapshots.default_site_id()
        elif not snapshots.site_exists(site_id):
            raise live.GroupError(f"unknown group {subscription.name!r}: no site {site_id}")
        if subscription.zone_id is not None and not snapshots.zone_exists(site_id, subscription.zone_id):
            raise live.GroupError(
                f"unknown group {subscription.name!r}: no zone {subscription.zone_id} in site"
            )
        resolved.append(
            live.Subscription(
                subscription.name,
                subscription.stream,
                site_id,
                zone_id=subscription.zone_id,
                equipment_kind=subscription.equipment_kind,
                equipment_id=subscription.equipment_id,
            )
        )
    return resolved


def _origin_allowed(scope: dict[str, Any]) -> bool:
    """Browsers must come from CORS_ORIGINS or ALLOWED_HOSTS; a client sending no Origin is not a browser."""
    origin = dict(scope.get("headers", [])).get(b"origin")
    if not origin:
        return True
    origin_text = origin.decode("latin-1").rstrip("/")
    if origin_text in settings.CORS_ALLOWED_ORIGINS:
        return True
    host = urlsplit(origin_text).hostname or ""
    return any(
        allowed == "*" or host == allowed.strip("[]") or (allowed.startswith(".") and host.endswith(allowed))
        for allowed in settings.ALLOWED_HOSTS
    )
