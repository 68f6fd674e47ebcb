"""Reads of fleet state shaped for screens and endpoints, and of any equipment's reading history (the
history machinery is fleet's): one index range scan of (equipment_id, ts) per read, partitions pruned by the
literal time bounds."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from typing import BinaryIO

from django.conf import settings
from django.db import connection, connections, models, transaction
from django.db.models import F, Max, QuerySet
from django.utils import timezone

from fleet import histories, liveness
from fleet.models import Site

#: Readings shown on an equipment's admin page.
LATEST_READINGS_SHOWN = 50


def last_tick_age_s() -> float | None:
    """Seconds since the newest tick of any site that is not paused; None while no such site has ticked."""
    newest = Site.objects.filter(paused=False).aggregate(newest=Max("last_tick_at"))["newest"]
    if newest is None:
        return None
    return max(0.0, (timezone.now() - newest).total_seconds())


def latest_reading_ids(equipment: models.Model, *, limit: int = LATEST_READINGS_SHOWN) -> list[int]:
    """Ids of the newest `limit` readings of one piece of equipment (index scan on (equipment_id, ts))."""
    readings = equipment.readings.order_by("-ts").values_list("id", flat=True)
    return list(readings[:limit])


def estimated_count(queryset: models.QuerySet) -> int:
    """The planner's row estimate for `queryset`: instant on tens of millions of rows, roughly right."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def write_readings_csv(
    out: BinaryIO,
    *,
    kind: str,
    site: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> int:
    """Write readings of `kind` as reading CSV (docs/data-format.md) to `out`; returns the rows written.

    PostgreSQL formats the rows itself (COPY … TO STDOUT): floats in their shortest exact form
    (extra_float_digits = 1), times in UTC with microseconds, so an export imports back bit for bit.
    """
    item = histories.history(kind)
    sensors = ", ".join(f"r.{name}" for name in item.sensors)
    where, params = ["TRUE"], []
    if site is not None:
        where.append("s.slug = %s")
        params.append(site)
    if start is not None:
        where.append("r.ts >= %s")
        params.append(start)
    if end is not None:
        where.append("r.ts < %s")
        params.append(end)
    query = (
        "COPY (SELECT s.slug AS site, e.name AS equipment, "
        f"""to_char(r.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, r.status, {sensors} """
        f'FROM "{item.reading._meta.db_table}" r '
        f'JOIN "{item.equipment._meta.db_table}" e ON e.id = r.equipment_id '
        f'JOIN "{Site._meta.db_table}" s ON s.id = e.site_id '
        f"WHERE {' AND '.join(where)} ORDER BY r.ts, s.slug, e.name) "
        "TO STDOUT WITH (FORMAT csv, HEADER true)"
    )
    rows = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL extra_float_digits = 1")
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, cursor.copy(query, params) as copy:
            for block in copy:
                out.write(block)
                rows += bytes(block).count(b"\n")
    return rows - 1  # the header line


# --- Current state rows: one shape for REST lists, live updates and snapshots

#: Fields every truck row carries (the same in `/api/trucks`, `truck_update` and snapshots).
TRUCK_ROW_FIELDS = (
    "id", "name", "site_id", "model", "status", "live", "lat", "lon", "heading_deg", "speed_kmh", "payload_t",
    "rated_payload_t", "fuel_l", "fuel_tank_l", "engine_temp_c", "tyre_pressure_kpa", "vibration_mm_s",
    "engine_hours", "health", "assigned_loader_id", "destination_crusher_id", "destination_dump_id",
    "last_reading_at",
)  # fmt: skip
LOADER_ROW_FIELDS = (
    "id", "name", "site_id", "model", "status", "live", "lat", "lon", "dig_rate_tph", "bucket_t", "zone_id",
    "health", "engine_hours",
)  # fmt: skip


def truck_rows(*, site_id: int | None = None, ids: Iterable[int] | None = None) -> list[dict]:
    """Trucks as dicts: kind, the fields above, fuel %, and the zone of the loader they are assigned to."""
    from fleet.models import Truck

    queryset = Truck.objects.order_by("site_id", "name")
    if site_id is not None:
        queryset = queryset.filter(site_id=site_id)
    if ids is not None:
        queryset = queryset.filter(id__in=list(ids))
    rows = queryset.annotate(zone_id=F("assigned_loader__zone_id")).values(*TRUCK_ROW_FIELDS, "zone_id")
    return with_telemetry_state(
        {"kind": "truck", **row, "fuel_pct": round(100 * row["fuel_l"] / row["fuel_tank_l"], 1)}
        for row in rows
    )


def telemetry_state_filter(state: str, *, now: dt.datetime | None = None) -> models.Q:
    """The units in one telemetry state at `now` (default: now), as a query: fleet.liveness.telemetry_state
    in SQL, for list filters (`?telemetry=stale`)."""
    cutoff = liveness.stale_cutoff(now or timezone.now(), settings.TELEMETRY_STALE_AFTER_S)
    if state == liveness.TelemetryState.SIMULATED:
        return models.Q(live=False)
    if state == liveness.TelemetryState.LIVE:
        return models.Q(live=True, last_reading_at__gt=cutoff)
    if state == liveness.TelemetryState.STALE:
        return models.Q(live=True) & (
            models.Q(last_reading_at__isnull=True) | models.Q(last_reading_at__lte=cutoff)
        )
    raise ValueError(f"telemetry state {state!r} is not one of {', '.join(liveness.TelemetryState)}")


def with_telemetry_state(rows: Iterable[dict]) -> list[dict]:
    """Equipment rows with their telemetry state now (`telemetry`: simulated, live or stale; `stale_since`),
    the one rule of fleet.liveness with the configured silence (TELEMETRY_STALE_AFTER_S)."""
    return liveness.with_telemetry_state(
        rows, now=timezone.now(), stale_after_s=settings.TELEMETRY_STALE_AFTER_S
    )


def fleet_rows(*, site_id: int, ids: Iterable[int] | None = None) -> list[dict]:
    """The trucks stream of a site: its trucks (those in `ids` when given) and all its loaders."""
    return truck_rows(site_id=site_id, ids=ids) + loader_rows(site_id=site_id)


def site_rows(rows: Callable[..., list[dict]], site_id: int) -> list[dict]:
    """One site's rows from a row selector (the read model builds each site's list with it)."""
    return rows(site_id=site_id)


def site_versions(site_ids: Iterable[int] | None = None) -> list[tuple[int, str]]:
    """(id, version) of the sites (all, or those in `site_ids`), by id: the read model's freshness check.

    The version is the tick number and the tick's time, so a recreated database never matches lists an
    older one left in Redis."""
    sites = Site.objects.order_by("pk")
    if site_ids is not None:
        sites = sites.filter(pk__in=list(site_ids))
    return [
        (pk, f"{tick}@{last_tick_at.timestamp() if last_tick_at else 0}")
        for pk, tick, last_tick_at in sites.values_list("pk", "tick", "last_tick_at")
    ]


def site_of(model: type[models.Model], pk: int) -> int | None:
    """The site a unit of any site-owned model belongs to (None: no such unit)."""
    return model.objects.filter(pk=pk).values_list("site_id", flat=True).first()


def loader_rows(*, site_id: int | None = None, ids: Iterable[int] | None = None) -> list[dict]:
    """Loaders as dicts, tagged kind=loader (they travel on the fleet stream with the trucks)."""
    from fleet.models import Loader

    queryset = Loader.objects.order_by("site_id", "name")
    if site_id is not None:
        queryset = queryset.filter(site_id=site_id)
    if ids is not None:
        queryset = queryset.filter(id__in=list(ids))
    return [{"kind": "loader", **row} for row in queryset.values(*LOADER_ROW_FIELDS)]


# --- One equipment's history


def raw_readings(
    kind: str, equipment_id: int, *, start: dt.datetime, end: dt.datetime, fields: list[str]
) -> QuerySet:
    """Readings in [start, end) as dicts (ts, status, fields), oldest first: one index range scan."""
    model = histories.history(kind).reading
    return (
        model.objects.filter(equipment_id=equipment_id, ts__gte=start, ts__lt=end)
        .order_by("ts")
        .values("ts", "status", *fields)
    )


def count_readings_up_to(
    kind: str, equipment_id: int, *, start: dt.datetime, end: dt.datetime, limit: int
) -> int:
    """How many readings are in [start, end), counting no further than `limit`: a refused request costs at
    most `limit` index entries, never a scan of the whole range."""
    table = histories.history(kind).reading._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*) FROM (SELECT 1 FROM "{table}" '
            "WHERE equipment_id = %s AND ts >= %s AND ts < %s LIMIT %s) AS bounded",
            [equipment_id, start, end, limit],
        )
        return cursor.fetchone()[0]


#: Buckets start on whole intervals counted from this instant (midnight UTC), so 15m buckets start at :00,
#: :15, ... whatever `from` the client asked for.
BUCKET_ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def reading_buckets(
    kind: str,
    equipment_id: int,
    *,
    start: dt.datetime,
    end: dt.datetime,
    interval: dt.timedelta,
    fields: list[str],
) -> list[dict]:
    """Readings in [start, end) aggregated by PostgreSQL into buckets of `interval` (date_bin): for each
    bucket its start, the number of readings and avg/min/max of each field. Empty buckets are left out."""
    table = histories.history(kind).reading._meta.db_table
    aggregates = ", ".join(
        f'avg("{name}") AS "{name}_avg", min("{name}") AS "{name}_min", max("{name}") AS "{name}_max"'
        for name in fields
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT date_bin(%s, ts, %s) AS bucket, count(*) AS samples{', ' if fields else ''}{aggregates} "
            f'FROM "{table}" WHERE equipment_id = %s AND ts >= %s AND ts < %s GROUP BY 1 ORDER BY 1',
            [interval, BUCKET_ORIGIN, equipment_id, start, end],
        )
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
