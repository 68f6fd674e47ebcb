"""A hand-over of received messages from a network thread to the thread that commits them in batches."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")


class BatchInbox(Generic[Item]):
    """Items from one producer thread to one consumer that takes them in batches.

    The ingest process used a `queue.Queue` and took a batch one `get` at a time, so the committing thread
    woke for every message and the two threads handed the GIL over for each. A bare paho subscriber with
    no database spent about 200 us of CPU a message that way and 120-140 us with this inbox
    (docs/performance.md, bench_mqtt). Here the consumer sleeps until a batch is full or its time is up,
    and is woken at most twice a batch. The ingest process under full load gains less: its committing
    thread is mostly in PostgreSQL, and finds the next batch waiting.

    One producer and one consumer: each counter is written by one thread only, and the deque's append and
    popleft are atomic.
    """

    def __init__(self, *, max_items: int, max_weight: int) -> None:
        self.max_items, self.max_weight = max_items, max_weight
        self._items: deque[tuple[Item, int]] = deque()
        self._arrived = threading.Event()
        self._full = threading.Event()
        self._put_items = self._put_weight = 0  # written by the producer only
        self._taken_items = self._taken_weight = 0  # written by the consumer only

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item, weight: int = 1) -> None:
        """Add an item (producer thread); `weight` counts towards `max_weight` (readings in a message)."""
        self._items.append((item, weight))
        self._put_items += 1
        self._put_weight += weight
        if self._is_full():
            self._full.set()
        self._arrived.set()

    def _is_full(self) -> bool:
        return (
            self._put_items - self._taken_items >= self.max_items
            or self._put_weight - self._taken_weight >= self.max_weight
        )

    def take(self, *, first_wait_s: float, collect_s: float) -> list[Item]:
        """The next batch (consumer thread): waits up to `first_wait_s` for a first item ([] if none
        came), then up to `collect_s` for the batch to fill; at most `max_items` items, and it stops at
        the item that brings the weight to `max_weight` or more."""
        if not self._items:
            # Cleared before waiting, not after: a set left by items taken earlier would end the wait at
            # once. An item put before the clear is seen by the check that follows it.
            self._arrived.clear()
            if not self._items:
                self._arrived.wait(first_wait_s)
            if not self._items:
                return []
        if not self._is_full():
            self._full.wait(collect_s)
        self._full.clear()
        batch: list[Item] = []
        weight = 0
        while self._items and len(batch) < self.max_items and weight < self.max_weight:
            item, item_weight = self._items.popleft()
            batch.append(item)
            weight += item_weight
        self._taken_items += len(batch)
        self._taken_weight += weight
        if self._is_full():  # a full batch waits already: the next take need not
            self._full.set()
        return batch
