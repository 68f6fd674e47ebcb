"""One channel-layer subscription per process, fanned out in-process to the live consumers of each group.

Before, every consumer joined its groups in the channel layer, so each tick's frame became one queued
message per client, one Channels dispatch (task creation and an `asyncio.wait`) per client, and one
`send` through daphne and autobahn per client. Now the process joins each group once, with one channel of
its own; `FanOut` receives each group message once (with several daphne processes: once per process) and
hands it, in arrival order, to every local subscriber with a plain method call. The frame is framed for the
wire once (`Frame.wire`) and written to each socket as is; subscribers narrowed to a zone or a unit share
the decoding and each distinct filtered frame.

`live.publish` and the envelope are unchanged, so any process publishing with `group_send` reaches
every process's subscribers, with either channels-redis layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from smartmine.platform import live
from smartmine.platform.wsframe import text_frame

logger = logging.getLogger(__name__)

#: Seconds between attempts to join the groups again after the channel layer failed (Redis away).
RETRY_S = 1.0


class Frame:
    """One group message as every local subscriber may need it, each form computed at most once."""

    __slots__ = ("_decoded", "_filtered", "_wire", "site", "stream", "text")

    def __init__(self, event: dict[str, Any]) -> None:
        self.stream: str = event["stream"]
        self.site: int = event["site"]
        self.text: str = event["text"]
        self._wire: bytes | None = None
        self._decoded: dict[str, Any] | None = None
        self._filtered: dict[tuple[str, ...], str | None] = {}

    @property
    def wire(self) -> bytes:
        """The whole frame as it goes on the socket (header and UTF-8 text)."""
        if self._wire is None:
            self._wire = text_frame(self.text.encode())
        return self._wire

    def filtered(self, subscriptions: list[live.Subscription]) -> str | None:
        """The frame's text with only the items these subscriptions match (None: no item matches)."""
        key = tuple(sorted(s.name for s in subscriptions))
        if key not in self._filtered:
            if self._decoded is None:
                self._decoded = orjson.loads(self.text)
            items = [item for item in self._decoded["data"] if any(s.matches(item) for s in subscriptions)]
            self._filtered[key] = live.encode({**self._decoded, "data": items}) if items else None
        return self._filtered[key]


class Subscriber(Protocol):
    def deliver(self, frame: Frame) -> str | None:
        """Take one frame without blocking; return an outcome to count ("sent", "dropped", ...) or None."""


class FanOut:
    """The local subscribers of each channel-layer group of one event loop, and the task that feeds them."""

    def __init__(self, layer: Any, count: Callable[[str, str, int], None] | None = None) -> None:
        self.layer = layer
        self.members: dict[str, dict[Subscriber, None]] = {}  # insertion-ordered sets
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()  # joins and leaves one at a time: a group is added to the layer once
        self.count = count

    async def join(self, group: str, subscriber: Subscriber) -> None:
        """Deliver the group's messages to `subscriber` from now on (once joined in the layer)."""
        async with self.lock:
            members = self.members.get(group)
            if members is None:
                if self.channel is None:
                    # the default prefix: RedisChannelLayer reads all of a process's channels from one list
                    self.channel = await self.layer.new_channel()
                await self.layer.group_add(group, self.channel)
                self.members[group] = members = {}
            members[subscriber] = None
            if self.task is None or self.task.done():
                self.task = asyncio.create_task(self._receive(), name="live-fanout")

    async def leave(self, group: str, subscriber: Subscriber) -> None:
        async with self.lock:
            members = self.members.get(group)
            if members is None or subscriber not in members:
                return
            del members[subscriber]
            if members:
                return
            del self.members[group]
            with contextlib.suppress(Exception):  # Redis away: the pub/sub layer forgets it anyway
                await self.layer.group_discard(group, self.channel)
            if not self.members and self.task is not None:
                self.task.cancel()  # the pub/sub layer unsubscribes the channel when its receive is cancelled
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self.task
                self.task, self.channel = None, None

    async def _receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live fan-out: the channel layer failed; joining again", exc_info=True)
                await self._join_again()
                continue
            if message.get("type") == "live.update":
                self.deliver(Frame(message))

    async def _join_again(self) -> None:
        """A fresh channel in every group, once Redis answers: RedisChannelLayer forgets its groups when
        Redis restarts empty (the pub/sub layer subscribes again by itself; adding twice is harmless)."""
        while True:
            await asyncio.sleep(RETRY_S)
            try:
                async with self.lock:
                    channel = await self.layer.new_channel()
                    for group in list(self.members):
                        await self.layer.group_add(group, channel)
                    self.channel = channel
            except Exception:
                logger.debug("live fan-out: the channel layer still fails", exc_info=True)
                continue
            logger.warning("live fan-out: receiving again, %d groups", len(self.members))
            return

    def deliver(self, frame: Frame) -> Counter[str]:
        """Hand one frame to every local subscriber of its group, in the order they joined it."""
        outcomes: Counter[str] = Counter()
        for subscriber in list(self.members.get(live.channel_group(frame.stream, frame.site), ())):
            try:
                outcome = subscriber.deliver(frame)
            except Exception:  # one broken connection must not cost the others their frame
                logger.exception("live fan-out: delivering to one subscriber failed")
                outcome = "failed"
            if outcome:
                outcomes[outcome] += 1
        if self.count is not None:
            for outcome, number in outcomes.items():
                self.count(frame.stream, outcome, number)
        return outcomes


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FanOut] = weakref.WeakKeyDictionary()


def hub(layer: Any, count: Callable[[str, str, int], None] | None = None) -> FanOut:
    """The fan-out of the running event loop (one per daphne process; tests get one per loop)."""
    loop = asyncio.get_running_loop()
    fanout = _hubs.get(loop)
    if fanout is None or fanout.layer is not layer:
        fanout = _hubs[loop] = FanOut(layer, count)
    return fanout
