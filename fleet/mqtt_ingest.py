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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings

from fleet import ingest, units
from fleet.mqttformat import Address, Decoded, reason_of
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


def _publish_live(changed: dict[int, dict[str, set[int]]]) -> None:
    """The units that spoke, on their site's live streams, in the shape the tick publishes (after commit).

    A failure is logged, never raised: the batch is committed, and the next batch or tick shows the units.
    """
    for site_id, by_kind in changed.items():
        try:
            updates = {
                live.STREAM_TYPES[live.EQUIPMENT_STREAMS[kind]]: live.stream_rows(
                    live.EQUIPMENT_STREAMS[kind], site_id, ids=ids
                )
                for kind, ids in by_kind.items()
            }
            live.publish_on_commit(site_id, updates)
        except Exception:
            logger.exception("mqtt live update failed", extra={"site": site_id})


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


def ingest_messages(messages: Sequence[Decoded], *, now: dt.datetime | None = None) -> BatchReport:
    """Store the good readings of every message in one transaction; bad ones are reported, never raised.

    Database errors do raise (nothing is written then): the caller keeps the batch unacknowledged and tries
    again, so the broker's copy stays the only one until the commit.
    """
    outcomes = [MessageOutcome(message.topic) for message in messages]
    ids = _equipment_ids({message.address for message in messages if message.address and not message.error})
    items: list[dict] = []
    owners: list[tuple[int, int]] = []  # (message, reading position in it) per item
    kinds: list[str] = []
    sites: list[int] = []
    for number, (message, outcome) in enumerate(zip(messages, outcomes, strict=True)):
        outcome.received = len(message.readings)
        if message.error is not None:
            outcome.rejected.append(
                {"index": None, "reason": message.error.reason, "errors": [str(message.error)]}
            )
            continue
        address = message.address
        found = ids.get(address)
        if found is None:
            outcome.rejected.append(
                {
                    "index": None,
                    "reason": "unknown_equipment",
                    "errors": [f"site {address.site!r} has no {address.kind} named {address.name!r}"],
                }
            )
            continue
        for position, reading in enumerate(message.readings):
            items.append({**reading, "kind": address.kind, "equipment_id": found[0]})
            owners.append((number, position))
            kinds.append(address.kind)
            sites.append(found[1])
    report = BatchReport(outcomes)
    if not items:
        return report
    telemetry = ingest.ingest_telemetry(items=items, now=now)
    refused = {item["index"]: item["errors"] for item in telemetry.rejected}
    newest: list[str] = []
    changed: dict[int, dict[str, set[int]]] = {}  # site -> kind -> equipment ids with a new reading
    for index, (number, position) in enumerate(owners):
        errors = refused.get(index)
        if errors is None:
            outcomes[number].accepted += 1
            report.accepted_by_kind[kinds[index]] = report.accepted_by_kind.get(kinds[index], 0) + 1
            newest.append(items[index]["ts"])
            changed.setdefault(sites[index], {}).setdefault(kinds[index], set()).add(
                items[index]["equipment_id"]
            )
        else:
            outcomes[number].rejected.append(
                {"index": position, "reason": reason_of(errors), "errors": errors}
            )
    report.inserted, report.duplicates = telemetry.inserted, telemetry.duplicates
    _publish_live(changed)
    if newest:  # accepted times are ISO 8601 with a zone (fleet.telemetry checked them)
        report.newest_reading = max(dt.datetime.fromisoformat(text) for text in newest)
    return report
