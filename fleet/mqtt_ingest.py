"""A batch of MQTT telemetry messages into the reading history, through the one ingestion function.

The ingest command collects messages, calls `ingest_messages` once per batch (one transaction) and
acknowledges them to the broker only after it returns: what is acknowledged is committed. Each message is
resolved from its topic (site, kind, equipment name) to an equipment id, its readings become items of one
`ingest_telemetry` batch (same checks, same binary COPY, same live marking and alarm hooks as
`POST /api/telemetry`), and the batch's rejections are handed back per message. After the commit, the units
that spoke are published on their site's live streams, as the tick publishes the units it moves.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection

from fleet import ingest, units
from fleet.mqttformat import Address, Decoded, reason_of
from fleet.sim.schema import SENSORS
from smartmine.platform import live

logger = logging.getLogger("smartmine.mqtt")

#: Each ingest process leaves its figures under this key for /api/health; it expires when the process stops.
HEARTBEAT_TTL_S = 30


def heartbeat_key(name: str = "*") -> str:
    return f"{settings.REDIS_PREFIX}mqtt-ingest:{name}"


def write_heartbeat(client, name: str, *, batch_at: float | None, lag_s: float | None) -> None:
    """What health shows of an ingest process: alive now, its last batch's time and lag (None: none yet)."""
    beat = {"name": name, "alive_at": time.time(), "batch_at": batch_at, "lag_s": lag_s}
    client.set(heartbeat_key(name), json.dumps(beat), ex=HEARTBEAT_TTL_S)


def read_heartbeats(client) -> list[dict]:
    """The live ingest processes: name, seconds since their last batch, and that batch's lag."""
    now = time.time()
    beats = [json.loads(raw) for key in client.scan_iter(heartbeat_key()) if (raw := client.get(key))]
    return [
        {
            "name": beat["name"],
            "last_batch_age_s": None if beat["batch_at"] is None else round(now - beat["batch_at"], 1),
            "lag_s": None if beat["lag_s"] is None else round(beat["lag_s"], 3),
        }
        for beat in sorted(beats, key=lambda beat: beat["name"])
    ]


class LivePublisher:
    """The units that spoke, on their site's live streams in the shape the tick publishes, at most every
    `every_s` per process: one frame carries every unit that spoke since the last one, so a flood of small
    batches costs one query per site and interval, not one per batch (the latency this adds is bounded).

    Called after the batch committed, from any of the ingest's committer threads. A failure is logged, never
    raised: the next batch or tick shows them.
    """

    def __init__(self, every_s: float = 0.25) -> None:
        self.every_s = every_s
        self.pending: dict[int, dict[str, set[int]]] = {}
        self.sent_at = 0.0
        self._lock = threading.Lock()

    def add(self, changed: dict[int, dict[str, set[int]]]) -> None:
        with self._lock:
            for site_id, by_kind in changed.items():
                for kind, ids in by_kind.items():
                    self.pending.setdefault(site_id, {}).setdefault(kind, set()).update(ids)

    def publish_due(self, *, force: bool = False) -> None:
        with self._lock:
            if not self.pending or (not force and time.monotonic() - self.sent_at < self.every_s):
                return
            pending, self.pending, self.sent_at = self.pending, {}, time.monotonic()
        for site_id, by_kind in pending.items():
            try:
                updates = {}
                for kind, ids in by_kind.items():
                    stream = live.EQUIPMENT_STREAMS[kind]
                    # Most of a site's units: the whole site is one plain query (no IN list of a thousand).
                    wanted = None if len(ids) > _site_units(kind, site_id) // 2 else ids
                    updates[live.STREAM_TYPES[stream]] = live.stream_rows(stream, site_id, ids=wanted)
                live.publish(site_id, updates)
            except Exception:
                logger.exception("mqtt live update failed", extra={"site": site_id})


def _site_units(kind: str, site_id: int) -> int:
    return _address_cache.site_units.get((kind, site_id), 0)


class _AddressCache:
    """Address -> (equipment id, site id): every batch names the same thousand units, so names are looked
    up once and each batch only checks that its ids still carry those names (one array query per kind).
    A unit deleted, recreated or renamed since is looked up again; the whole map is dropped every minute.
    One lookup at a time: the ingest's committer threads share it."""

    TTL_S = 60.0

    def __init__(self) -> None:
        self.found: dict[Address, tuple[int, int]] = {}
        self.site_units: dict[tuple[str, int], int] = {}
        self.loaded_at = 0.0
        self._lock = threading.Lock()

    def lookup(self, addresses: set[Address]) -> dict[Address, tuple[int, int]]:
        with self._lock:
            return self._lookup(addresses)

    def _lookup(self, addresses: set[Address]) -> dict[Address, tuple[int, int]]:
        if time.monotonic() - self.loaded_at > self.TTL_S:
            self.found, self.site_units, self.loaded_at = {}, {}, time.monotonic()
        self._drop_changed({address for address in addresses if address in self.found})
        missing = {address for address in addresses if address not in self.found}
        if missing:
            self.found.update(_equipment_ids(missing))
            for address in missing & self.found.keys():
                key = (address.kind, self.found[address][1])
                if key not in self.site_units:
                    model = units.get(address.kind).model
                    self.site_units[key] = model.objects.filter(site_id=key[1]).count()
        return {address: self.found[address] for address in addresses if address in self.found}

    def _drop_changed(self, cached: set[Address]) -> None:
        by_kind: dict[str, dict[int, Address]] = {}
        for address in cached:
            by_kind.setdefault(address.kind, {})[self.found[address][0]] = address
        for kind, by_id in by_kind.items():
            table = units.get(kind).model._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(f'SELECT id, name FROM "{table}" WHERE id = ANY(%s)', [list(by_id)])
                names = dict(cursor.fetchall())
            for pk, address in by_id.items():
                if names.get(pk) != address.name:
                    del self.found[address]


_address_cache = _AddressCache()


@dataclass
class MessageOutcome:
    """What became of one message: readings accepted, and the refused ones with their reasons."""

    topic: str
    received: int = 0
    accepted: int = 0
    #: [{"index": reading position in the message (None: the whole message), "reason", "errors"}]
    rejected: list[dict] = field(default_factory=list)


@dataclass
class BatchReport:
    outcomes: list[MessageOutcome]
    inserted: int = 0
    duplicates: int = 0
    accepted_by_kind: dict[str, int] = field(default_factory=dict)
    #: The newest time among the accepted readings: commit time minus it is the ingest lag.
    newest_reading: dt.datetime | None = None

    @property
    def accepted(self) -> int:
        return sum(outcome.accepted for outcome in self.outcomes)


def _equipment_ids(addresses: set[Address]) -> dict[Address, tuple[int, int]]:
    """Address -> (equipment id, site id), one query per kind in the batch."""
    found: dict[Address, tuple[int, int]] = {}
    by_kind: dict[str, set[Address]] = {}
    for address in addresses:
        by_kind.setdefault(address.kind, set()).add(address)
    for kind, wanted in by_kind.items():
        rows = (
            units.get(kind)
            .model.objects.filter(
                site__slug__in={address.site for address in wanted},
                name__in={address.name for address in wanted},
            )
            .values_list("site__slug", "name", "pk", "site_id")
        )
        for site, name, pk, site_id in rows:
            address = Address(site, kind, name)
            if address in wanted:
                found[address] = (pk, site_id)
    return found


def _frame(kind: str, messages: list[Decoded]) -> pd.DataFrame:
    """The raw values of the messages' readings in columns, in message order; row payloads go through one
    pandas from_records (C), column payloads are concatenated as they are."""
    names = ["ts", "status", *SENSORS[kind]]
    if all(message.columns is None for message in messages):
        rows = [reading for message in messages for reading in message.readings]
        return pd.DataFrame.from_records(rows, columns=names)
    return pd.DataFrame({name: [v for message in messages for v in message.values(name)] for name in names})


def ingest_messages(
    messages: Sequence[Decoded], *, now: dt.datetime | None = None, publisher: LivePublisher | None = None
) -> BatchReport:
    """Store the good readings of every message in one transaction; bad ones are reported, never raised.

    The readings go into columns per kind straight from the messages (no dict per reading). Database errors
    do raise (nothing is written then): the caller keeps the batch unacknowledged and tries again, so the
    broker's copy stays the only one until the commit. The units that spoke go to `publisher` (default:
    published at once).
    """
    outcomes = [MessageOutcome(message.topic, received=len(message)) for message in messages]
    ids = _address_cache.lookup({message.address for message in messages if message.error is None})
    by_kind: dict[str, list[int]] = {}  # kind -> numbers of its messages with readings to check
    for number, (message, outcome) in enumerate(zip(messages, outcomes, strict=True)):
        if message.error is not None:
            outcome.rejected.append(
                {"index": None, "reason": message.error.reason, "errors": [str(message.error)]}
            )
        elif message.address not in ids:
            address = message.address
            outcome.rejected.append(
                {
                    "index": None,
                    "reason": "unknown_equipment",
                    "errors": [f"site {address.site!r} has no {address.kind} named {address.name!r}"],
                }
            )
        else:
            by_kind.setdefault(message.address.kind, []).append(number)
    report = BatchReport(outcomes)
    if not by_kind:
        return report
    frames, owners, first = {}, [], 0  # owners: (message numbers, reading positions) per kind, in order
    for kind, numbers in by_kind.items():
        counts = np.array([len(messages[number]) for number in numbers])
        equipment = np.repeat([ids[messages[number].address][0] for number in numbers], counts)
        frame = _frame(kind, [messages[number] for number in numbers])
        frame.insert(0, "equipment_id", equipment)
        positions = np.arange(first, first + len(equipment))
        first += len(equipment)
        frames[kind] = (frame, positions)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        owners.append((np.repeat(numbers, counts), np.arange(len(equipment)) - starts, kind))
    message_of = np.concatenate([owner[0] for owner in owners])
    position_of = np.concatenate([owner[1] for owner in owners])
    telemetry = ingest.ingest_telemetry_columns(frames=frames, now=now)
    refused = np.zeros(len(message_of), dtype=bool)
    for item in telemetry.rejected:
        index = item["index"]
        refused[index] = True
        outcomes[message_of[index]].rejected.append(
            {"index": int(position_of[index]), "reason": reason_of(item["errors"]), "errors": item["errors"]}
        )
    accepted = np.bincount(message_of[~refused], minlength=len(messages))
    for outcome, count in zip(outcomes, accepted.tolist(), strict=True):
        outcome.accepted = count
    changed: dict[int, dict[str, set[int]]] = {}  # site -> kind -> equipment ids with a new reading
    for kind, numbers in by_kind.items():
        kind_accepted = [number for number in numbers if accepted[number]]
        report.accepted_by_kind[kind] = int(accepted[numbers].sum())
        for number in kind_accepted:
            pk, site_id = ids[messages[number].address]
            changed.setdefault(site_id, {}).setdefault(kind, set()).add(pk)
    report.accepted_by_kind = {kind: count for kind, count in report.accepted_by_kind.items() if count}
    report.inserted, report.duplicates = telemetry.inserted, telemetry.duplicates
    report.newest_reading = telemetry.newest
    publisher = publisher or LivePublisher(every_s=0)
    publisher.add(changed)
    if publisher.every_s == 0:
        publisher.publish_due(force=True)
    return report
