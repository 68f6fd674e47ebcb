"""Shapes of the fleet endpoints. Current-state rows are documented here and built by fleet.selectors."""

from __future__ import annotations

import datetime as dt
import re

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from fleet.choices import DispatchStrategy
from fleet.liveness import TelemetryState
from fleet.models import Loader, MiningZone, Site, Truck
from fleet.selectors import LOADER_ROW_FIELDS, TRUCK_ROW_FIELDS
from fleet.sim.schema import SENSORS, STATUSES
from fleet.telemetry import MAX_BATCH
from smartmine.platform.api.fields import ChoiceField, StrictBooleanField
from smartmine.platform.api.schema import row_serializer


def telemetry_state_fields() -> dict[str, serializers.Field]:
    """The telemetry state every reporting unit's row carries (fleet.liveness), for the schema."""
    return {
        "telemetry": ChoiceField(
            choices=[(str(state), str(state)) for state in TelemetryState],
            read_only=True,
            help_text=(
                "simulated: the simulator moves it; live: fed by real telemetry; stale: fed by real "
                "telemetry but silent for TELEMETRY_STALE_AFTER_S or more, showing its last values "
                "(docs/live.md)"
            ),
        ),
        "stale_since": serializers.DateTimeField(
            read_only=True,
            allow_null=True,
            help_text="when a stale unit became stale (its last reading plus the threshold); null otherwise",
        ),
    }


TruckRowSerializer = row_serializer(
    "TruckRow",
    Truck,
    TRUCK_ROW_FIELDS,
    {
        "kind": serializers.CharField(read_only=True, default="truck", help_text="always `truck`"),
        "zone_id": serializers.IntegerField(
            read_only=True, allow_null=True, help_text="pit zone of the loader the truck is assigned to"
        ),
        "fuel_pct": serializers.FloatField(read_only=True, help_text="fuel as a share of the tank (%)"),
        **telemetry_state_fields(),
    },
)
LoaderRowSerializer = row_serializer(
    "LoaderRow",
    Loader,
    LOADER_ROW_FIELDS,
    {"kind": serializers.CharField(read_only=True, default="loader", help_text="always `loader`")},
)


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = [
            "id", "name", "slug", "timezone", "centre_lat", "centre_lon", "paused", "dispatch_strategy",
            "is_default", "tick", "last_tick_at", "sim_clock", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class SiteUpdateSerializer(serializers.Serializer):
    """What engineers change on a running site; each field is optional (PATCH), at least one is given."""

    openapi_request_rules = {"anyOf": [{"required": ["dispatch_strategy"]}, {"required": ["paused"]}]}

    dispatch_strategy = ChoiceField(choices=DispatchStrategy.choices, required=False)
    paused = StrictBooleanField(
        required=False, help_text="a paused site is not simulated (its beat entry is disabled too)"
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("Give dispatch_strategy, paused or both.")
        return attrs


class ZoneSerializer(serializers.ModelSerializer):
    site_id = serializers.IntegerField(read_only=True)
    mined_pct = serializers.SerializerMethodField(help_text="share of the initial tonnes already mined (%)")

    class Meta:
        model = MiningZone
        fields = [
            "id", "name", "site_id", "pit", "bench_rl_m", "material", "grade_pct", "initial_t", "remaining_t",
            "mined_pct", "shift_target_t", "status", "live", "lat", "lon", "polygon",
        ]  # fmt: skip
        read_only_fields = fields

    def get_mined_pct(self, zone: MiningZone) -> float:
        if zone.initial_t <= 0:
            return 0.0
        return round(100 * (zone.initial_t - zone.remaining_t) / zone.initial_t, 1)


def zone_items(site_id: int) -> list[dict]:
    """One site's zones as the zone list shows them (the read model's `zones`)."""
    zones = MiningZone.objects.filter(site_id=site_id).order_by("name")
    return ZoneSerializer(zones, many=True).data


# --- History


#: A request for more raw readings than this is refused with a suggestion to aggregate (an interval).
RAW_POINTS_LIMIT = 20_000
#: Buckets one aggregated request may return (24 h at 10 s is 8,640).
MAX_BUCKETS = 10_000
#: The longest time span one history request may cover.
MAX_SPAN = dt.timedelta(days=31)
#: The span shown when the client gives no `from`.
DEFAULT_SPAN = dt.timedelta(hours=1)
#: An interval: a count (1 to 999,999, no leading zero) and a unit; the schema gives the same pattern.
INTERVAL_PATTERN = r"^([1-9][0-9]{0,5})(s|m|h|d)$"
_INTERVAL = re.compile(INTERVAL_PATTERN)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: Intervals offered when a raw request is too big, smallest first.
SUGGESTED_INTERVALS = ("10s", "1m", "5m", "15m", "1h", "6h", "1d")


def parse_interval(text: str) -> dt.timedelta:
    match = _INTERVAL.match(text.strip())
    if not match or int(match[1]) == 0:
        raise ValueError(f"{text!r} is not an interval such as 30s, 1m, 15m, 1h or 1d")
    return dt.timedelta(**{_UNITS[match[2]]: int(match[1])})


def suggest_interval(span: dt.timedelta, *, points: int = 1000) -> str:
    """The smallest usual interval that gives at most `points` buckets over `span`."""
    for text in SUGGESTED_INTERVALS:
        if span / parse_interval(text) <= points:
            return text
    return SUGGESTED_INTERVALS[-1]


class ReadingQuerySerializer(serializers.Serializer):
    """Query parameters of /api/<equipment>/{id}/readings."""

    # `from` is a Python keyword: declared through the class namespace.
    locals()["from"] = serializers.DateTimeField(
        required=False, help_text="inclusive start (ISO 8601); default: `to` minus one hour"
    )
    to = serializers.DateTimeField(
        required=False, help_text="exclusive end (ISO 8601); default: just after the newest reading, or now"
    )
    fields = serializers.CharField(
        required=False, help_text="comma-separated sensors to return (default: all of the equipment kind)"
    )
    interval = serializers.CharField(
        required=False,
        help_text="aggregate into buckets of this size (30s, 1m, 15m, 1h, 1d): avg/min/max per field",
    )

    def __init__(self, *args, kind: str = "truck", latest: dt.datetime | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind, self.latest = kind, latest

    def validate_fields(self, value: str) -> list[str]:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = [name for name in names if name not in SENSORS[self.kind]]
        if unknown:
            known = ", ".join(SENSORS[self.kind])
            raise serializers.ValidationError(
                f"unknown {self.kind} field(s) {', '.join(unknown)}; choose from {known}"
            )
        return list(dict.fromkeys(names))

    def validate_interval(self, value: str) -> dt.timedelta:
        try:
            return parse_interval(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error)) from None

    def validate(self, attrs: dict) -> dict:
        end = attrs.get("to") or (
            self.latest + dt.timedelta(microseconds=1) if self.latest else timezone.now()
        )
        start = attrs.get("from") or end - DEFAULT_SPAN
        if start >= end:
            raise serializers.ValidationError({"from": ["must be before `to`"]})
        if end - start > MAX_SPAN:
            raise serializers.ValidationError({"from": [f"the span may be at most {MAX_SPAN.days} days"]})
        interval = attrs.get("interval")
        if interval is not None and (end - start) / interval > MAX_BUCKETS:
            raise serializers.ValidationError(
                {
                    "interval": [
                        f"gives more than {MAX_BUCKETS} buckets; use {suggest_interval(end - start)} or more"
                    ]
                }
            )
        return {
            "start": start,
            "end": end,
            "interval": interval,
            "fields": attrs.get("fields") or list(SENSORS[self.kind]),
        }


def _sensor_fields(kind: str, suffixes: tuple[str, ...]) -> dict[str, serializers.Field]:
    return {
        name + suffix: serializers.FloatField(
            allow_null=True,
            required=False,
            help_text=f"{sensor.description} ({sensor.unit}){suffix.replace('_', ' ')}",
        )
        for name, sensor in SENSORS[kind].items()
        for suffix in suffixes
    }


def _history_serializers(kind: str) -> tuple[type[serializers.Serializer], type[serializers.Serializer]]:
    """The raw and the bucketed answer of one equipment kind's history, for the schema."""
    title = kind.title()
    equipment = {
        "kind": serializers.CharField(help_text=f"always `{kind}`"),
        "equipment_id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "fields": serializers.ListField(child=serializers.CharField()),
    }
    raw_row = type(
        f"{title}ReadingSerializer",
        (serializers.Serializer,),
        {
            "ts": serializers.DateTimeField(),
            "status": ChoiceField(choices=[m.value for m in STATUSES[kind]]),
            **_sensor_fields(kind, ("",)),
        },
    )
    bucket_row = type(
        f"{title}ReadingBucketSerializer",
        (serializers.Serializer,),
        {
            "bucket": serializers.DateTimeField(help_text="start of the bucket"),
            "samples": serializers.IntegerField(help_text="readings in the bucket"),
            **_sensor_fields(kind, ("_avg", "_min", "_max")),
        },
    )
    raw = type(
        f"{title}ReadingPageSerializer",
        (serializers.Serializer,),
        {
            **equipment,
            "interval": serializers.CharField(allow_null=True, help_text="null: raw readings"),
            "next": serializers.URLField(
                allow_null=True, help_text="the next page (cursor), null at the end"
            ),
            "previous": serializers.URLField(allow_null=True),
            "results": raw_row(many=True),
        },
    )
    bucketed = type(
        f"{title}ReadingBucketsSerializer",
        (serializers.Serializer,),
        {
            **equipment,
            "interval": serializers.CharField(help_text="the bucket size asked for, e.g. 1m"),
            "results": bucket_row(many=True),
        },
    )
    return raw, bucketed


HISTORY_SERIALIZERS = {kind: _history_serializers(kind) for kind in SENSORS}


# --- Telemetry


def _telemetry_item_fields() -> dict[str, serializers.Field]:
    sensors: dict[str, serializers.Field] = {}
    for kind, fields in SENSORS.items():
        for name, sensor in fields.items():
            if name not in sensors:
                sensors[name] = serializers.FloatField(
                    required=False,
                    min_value=sensor.minimum,
                    max_value=sensor.maximum,
                    help_text=f"{sensor.description} ({sensor.unit}); required for a {kind}",
                )
    return sensors


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A truck reading",
            request_only=True,
            value={
                "readings": [
                    {
                        "kind": "truck",
                        "equipment_id": 12,
                        "ts": "2025-03-01T06:00:05Z",
                        "status": "hauling",
                        "lat": -22.301,
                        "lon": 118.604,
                        "heading_deg": 92.0,
                        "speed_kmh": 31.5,
                        "payload_t": 224.0,
                        "fuel_l": 2860.0,
                        "engine_temp_c": 91.0,
                        "tyre_pressure_kpa": 760.0,
                        "vibration_mm_s": 3.1,
                        "engine_hours": 18234.5,
                        "health": 96.0,
                    }
                ]
            },
        )
    ]
)
class TelemetryBatchSerializer(serializers.Serializer):
    """Documentation of the request body; items are validated all at once by fleet.telemetry, not here."""

    readings = serializers.ListField(
        child=type(
            "TelemetryReadingSerializer",
            (serializers.Serializer,),
            {
                "kind": ChoiceField(choices=list(SENSORS)),
                "equipment_id": serializers.IntegerField(help_text="the equipment's id in this API"),
                "ts": serializers.DateTimeField(help_text="ISO 8601 with a zone (Z or +HH:MM)"),
                "status": serializers.CharField(
                    help_text="a status of the kind, e.g. hauling, running, normal"
                ),
                **_telemetry_item_fields(),
            },
        )(),
        max_length=MAX_BATCH,
        help_text=f"at most {MAX_BATCH} readings, of any kinds",
    )


class RejectedItemSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="position of the item in `readings`")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="messages per field"
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "One item rejected",
            response_only=True,
            value={
                "received": 3,
                "accepted": 2,
                "inserted": 1,
                "duplicates": 1,
                "marked_live": 1,
                "rejected": [
                    {"index": 2, "errors": {"fuel_l": ["5200 L is more than its fuel tank (4921 L)"]}}
                ],
            },
        )
    ]
)
class TelemetryReportSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="items in the batch")
    accepted = serializers.IntegerField(help_text="items stored now or before (every item not in `rejected`)")
    inserted = serializers.IntegerField(help_text="readings new to the history")
    duplicates = serializers.IntegerField(
        help_text="accepted readings already stored (same equipment and ts)"
    )
    marked_live = serializers.IntegerField(
        help_text="equipment now fed by telemetry (the simulator leaves it)"
    )
    rejected = RejectedItemSerializer(many=True)
