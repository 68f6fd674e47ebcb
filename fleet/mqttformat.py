"""The MQTT telemetry format: topics and payloads of equipment gateways (docs/telemetry.md).

Pure Python, no Django: the ingest command (fleet/management/commands/ingest_mqtt.py) hands every message
through here first. A message's topic names the site, the kind and the equipment; its payload is one reading,
a small batch of them (an array of objects), each with the fields of a `POST /api/telemetry` item except
`kind` and `equipment_id`, which the topic gives, or many readings in columns (an object of equal-length
arrays, one per field: a gateway that buffers a unit's readings sends them in one message). The readings
then go through the same checks (fleet.telemetry) and the same ingestion function (fleet.ingest) as a
POSTed batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import orjson

from fleet.sim.schema import SENSORS

ROOT = "smartmine"
#: What every ingest process subscribes to: one shared group, so the broker spreads messages among them.
SHARE_GROUP = "smartmine-ingest"
TELEMETRY_TOPICS = f"{ROOT}/+/+/+/telemetry"
SUBSCRIPTION = f"$share/{SHARE_GROUP}/{TELEMETRY_TOPICS}"
#: Readings in one message: a gateway batching a minute of one truck at 1 Hz fits; more belongs in POST.
MAX_READINGS_PER_MESSAGE = 100
#: Readings in one message in columns: ten minutes of one unit at 1 Hz (about 130 kB of JSON for a truck).
MAX_COLUMN_READINGS = 600
#: Fields the topic gives; a payload that repeats them is refused rather than silently overridden.
TOPIC_FIELDS = ("kind", "equipment_id")
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")


class BadMessage(ValueError):
    """A message refused as a whole (topic or payload); `reason` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


#: Why a reading or message is refused: the label of the rejection counter and of the "logged once" set.
REASONS = ("topic", "payload", "unknown_equipment", "time", "value")


@dataclass(frozen=True)
class Address:
    """Which equipment a topic speaks for."""

    site: str
    kind: str
    name: str


@dataclass
class Decoded:
    """One message after the topic and payload checks: its readings, or why it was refused whole."""

    topic: str
    address: Address | None = None
    #: The readings of an object or array payload, one dict each.
    readings: list[dict] = field(default_factory=list)
    #: The readings of a columns payload: field -> its values, every list of the same length.
    columns: dict[str, list] | None = None
    error: BadMessage | None = None

    def __len__(self) -> int:
        """How many readings the message holds (0 when refused whole)."""
        if self.columns is not None:
            return len(self.columns["ts"])
        return len(self.readings)

    def values(self, name: str) -> list:
        """One field of every reading, None where a reading lacks it (the checks call it missing)."""
        if self.columns is not None:
            return self.columns.get(name) or [None] * len(self)
        return [reading.get(name) for reading in self.readings]


@lru_cache(maxsize=65_536)
def parse_topic(topic: str) -> Address:
    """`smartmine/<site-slug>/<kind>/<equipment-name>/telemetry` -> its Address, or BadMessage.

    Cached: a site's gateways publish on the same few thousand topics all day (a refusal is not cached)."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[4] != "telemetry":
        raise BadMessage("topic", f"topic must be {ROOT}/<site>/<kind>/<equipment>/telemetry")
    _, site, kind, name, _ = parts
    if not _SLUG.fullmatch(site):
        raise BadMessage("topic", f"{site!r} is not a site slug")
    if kind not in SENSORS:
        raise BadMessage("topic", f"{kind!r} is not one of {', '.join(SENSORS)}")
    if not name:
        raise BadMessage("topic", "the equipment name is empty")
    return Address(site, kind, name)


def rejected_topic(topic: str) -> str:
    """Where the reasons of a refused message are published, next to the topic it came on."""
    return f"{topic}/rejected"


def decode_payload(payload: bytes) -> list[dict] | dict[str, list]:
    """A JSON object (one reading), array of objects (a batch) or object of arrays (readings in columns)
    -> the readings (a list of dicts, or the columns), or BadMessage."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise BadMessage("payload", f"not JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("ts"), list):
        return _columns(data)
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise BadMessage(
            "payload", "must be a JSON object (one reading), a non-empty array of them, or arrays in columns"
        )
    if len(items) > MAX_READINGS_PER_MESSAGE:
        raise BadMessage(
            "payload", f"holds {len(items)} readings; at most {MAX_READINGS_PER_MESSAGE} per message"
        )
    if set(map(type, items)) != {dict}:  # JSON objects decode to exactly dict
        position = next(position for position, item in enumerate(items) if not isinstance(item, dict))
        raise BadMessage("payload", f"reading {position} must be a JSON object")
    for position, item in enumerate(items):
        if not item.keys().isdisjoint(TOPIC_FIELDS):  # every reading of every message: the quick test first
            _no_topic_fields(item, f"reading {position}")
    return items


def _columns(data: dict) -> dict[str, list]:
    """Readings in columns: every field an array as long as `ts`."""
    count = len(data["ts"])
    if not count or count > MAX_COLUMN_READINGS:
        raise BadMessage("payload", f"columns hold 1 to {MAX_COLUMN_READINGS} readings, not {count}")
    _no_topic_fields(data, "the columns")
    for name, values in data.items():
        if not isinstance(values, list) or len(values) != count:
            raise BadMessage("payload", f"column {name!r} must be an array of {count} values, as ts is")
    return data


def _no_topic_fields(item: dict, what: str) -> None:
    repeated = [name for name in TOPIC_FIELDS if name in item]
    if repeated:
        raise BadMessage("payload", f"{what} has {', '.join(repeated)}: the topic names the equipment")


def decode(topic: str, payload: bytes) -> Decoded:
    """Topic and payload of one message, never raising: a refusal is kept in `error`."""
    decoded = Decoded(topic)
    try:
        decoded.address = parse_topic(topic)
        readings = decode_payload(payload)
    except BadMessage as error:
        decoded.error = error
        return decoded
    if isinstance(readings, dict):
        decoded.columns = readings
    else:
        decoded.readings = readings
    return decoded


def reason_of(errors: dict[str, list[str]]) -> str:
    """The rejection reason of one reading from its per-field errors (fleet.telemetry.check's shape)."""
    if "equipment_id" in errors:
        return "unknown_equipment"
    if set(errors) == {"ts"}:
        return "time"
    return "value"
