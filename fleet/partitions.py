"""Partitions of the reading and rollup tables (docs/history.md): readings by UTC day, rollups by UTC month.

A batch whose days have no partition yet gets them created on demand (fleet.readings), so ingestion never
fails on an unprepared date; the hourly beat task creates the next week ahead and drops whole partitions past
the retention period, never row by row.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction

from fleet.histories import histories, history

#: Keep this many days of reading partitions ready ahead of today (created by the beat task).
PARTITIONS_AHEAD_DAYS = 7


def _day_partition(table: str, day: dt.date) -> tuple[str, dt.date, dt.date]:
    return f"{table}_p{day:%Y%m%d}", day, day + dt.timedelta(days=1)


def _month_partition(table: str, day: dt.date) -> tuple[str, dt.date, dt.date]:
    first = day.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return f"{table}_p{first:%Y%m}", first, following


def _lock_key(table: str) -> int:
    return zlib.crc32(f"partitions:{table}".encode())


def _ensure(table: str, bounds: Iterable[tuple[str, dt.date, dt.date]]) -> list[str]:
    """Create the missing partitions among `bounds`; returns the names created.

    A transaction-level advisory lock per table serialises creators, so two concurrent batches for a new
    day do not race on CREATE TABLE; the common case (all exist) takes no lock.
    """
    wanted = {name: (start, end) for name, start, end in bounds}
    if not wanted:
        return []
    with connection.cursor() as cursor:
        existing = _existing(cursor, list(wanted))
        missing = sorted(set(wanted) - existing)
        if not missing:
            return []
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(table)])
        missing = sorted(set(missing) - _existing(cursor, missing))
        for name in missing:
            start, end = wanted[name]
            cursor.execute(
                f'CREATE TABLE "{name}" PARTITION OF "{table}" '
                f"FOR VALUES FROM ('{start.isoformat()} 00:00+00') TO ('{end.isoformat()} 00:00+00')"
            )
    return missing


def _existing(cursor, names: list[str]) -> set[str]:
    cursor.execute(
        "SELECT relname FROM pg_class "
        "WHERE relname = ANY(%s) AND relnamespace = current_schema()::regnamespace",
        [names],
    )
    return {row[0] for row in cursor.fetchall()}


def ensure_reading_partitions(kind: str, days: Iterable[dt.date]) -> list[str]:
    """Make sure the reading table of `kind` has a partition for each of `days` (UTC)."""
    table = history(kind).reading._meta.db_table
    return _ensure(table, (_day_partition(table, day) for day in days))


def missing_reading_partitions(kind: str, days: Iterable[dt.date]) -> list[str]:
    """The partitions of `kind`'s reading table that `days` (UTC) would need created."""
    table = history(kind).reading._meta.db_table
    wanted = sorted({_day_partition(table, day)[0] for day in days})
    if not wanted:
        return []
    with connection.cursor() as cursor:
        return sorted(set(wanted) - _existing(cursor, wanted))


def ensure_rollup_partitions(kind: str, days: Iterable[dt.date]) -> list[str]:
    """Make sure the rollup table of `kind` has a partition for the month of each of `days`."""
    table = history(kind).rollup._meta.db_table
    return _ensure(table, {_month_partition(table, day) for day in days})


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=offset) for offset in range((end - start).days + 1)]


@transaction.atomic
def create_partitions_ahead(
    *, today: dt.date | None = None, days_ahead: int = PARTITIONS_AHEAD_DAYS
) -> list[str]:
    """Partitions from today to `days_ahead` days ahead for every reading and rollup table."""
    today = today or dt.datetime.now(dt.UTC).date()
    days = days_between(today, today + dt.timedelta(days=days_ahead))
    created: list[str] = []
    for item in histories():
        created += ensure_reading_partitions(item.kind, days)
        created += ensure_rollup_partitions(item.kind, days)
    return created


def partitions(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
            "WHERE inhparent = %s::regclass ORDER BY 1",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]


def is_daily_partition(name: str) -> bool:
    return len(name.rsplit("_p", 1)[-1]) == 8


def partition_end(name: str) -> dt.date | None:
    """The exclusive upper bound of a partition from its name (`_pYYYYMMDD` day or `_pYYYYMM` month)."""
    suffix = name.rsplit("_p", 1)[-1]
    try:
        if len(suffix) == 8:
            return dt.datetime.strptime(suffix, "%Y%m%d").date() + dt.timedelta(days=1)
        if len(suffix) == 6:
            return _month_partition("", dt.datetime.strptime(suffix, "%Y%m").date())[2]
    except ValueError:
        pass
    return None  # not one of ours: leave it alone


@transaction.atomic
def drop_expired_partitions(
    *, now: dt.datetime | None = None, readings_days: int | None = None, rollup_days: int | None = None
) -> list[str]:
    """Drop whole partitions that end before the retention cut-off; never deletes row by row.

    A partition is dropped only when all of it is older than the cut-off, so up to one extra day (readings)
    or month (rollups) is kept.
    """
    now = now or dt.datetime.now(dt.UTC)
    readings_days = readings_days or settings.READINGS_RETENTION_DAYS
    rollup_days = rollup_days or settings.ROLLUP_RETENTION_DAYS
    dropped: list[str] = []
    for item in histories():
        for model, days in ((item.reading, readings_days), (item.rollup, rollup_days)):
            cutoff = (now - dt.timedelta(days=days)).date()
            for name in partitions(model._meta.db_table):
                end = partition_end(name)
                if end is not None and end <= cutoff:
                    with connection.cursor() as cursor:
                        cursor.execute(f'DROP TABLE "{name}"')
                    dropped.append(name)
    return dropped
