"""Reading history: the one ingestion path and one-minute rollups.

Everything that stores readings (the simulator tick, `import_readings`, the telemetry API) calls
`ingest_readings`. It writes with PostgreSQL binary COPY, built with NumPy rather than row by row, and
updates each piece of equipment's current state from its newest reading, inside the caller's transaction.

A batch whose days have no partition yet gets them created on demand (fleet.partitions), so ingestion never
fails on an unprepared date. Readings outside the window retention keeps (fleet.window) are refused, so no
partition is created outside it. The tables of each kind come from fleet.histories.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psycopg
from django.conf import settings
from django.db import connection, transaction

from fleet import locks
from fleet.histories import History, histories, history
from fleet.partitions import (
    days_between,
    ensure_reading_partitions,
    ensure_rollup_partitions,
    missing_reading_partitions,
)
from fleet.sim.schema import STATUSES
from fleet.window import ReadingWindow

#: PostgreSQL stores timestamptz as microseconds since 2000-01-01 UTC (binary COPY format).
PG_EPOCH_US = 946_684_800_000_000
US_PER_DAY = 86_400_000_000
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
#: Rows encoded per slice of the COPY stream: bounds memory on very large batches (~170 B a truck row).
_SLICE_ROWS = 250_000
#: Up to this many equipment rows, the state update sends arrays; above it, a COPY into a temporary table.
_ARRAY_UPDATE_MAX_ROWS = 256


@dataclass(frozen=True, slots=True)
class IngestResult:
    inserted: int
    duplicates: int


# --- Ingestion


def kept_window(now: dt.datetime | None = None, *, ahead_s: float | None = None) -> ReadingWindow:
    """The configured window at `now`: READINGS_RETENTION_DAYS back, READINGS_FUTURE_MARGIN_S (or
    `ahead_s`) ahead."""
    return ReadingWindow.at(
        now or dt.datetime.now(dt.UTC),
        retention_days=settings.READINGS_RETENTION_DAYS,
        ahead_s=settings.READINGS_FUTURE_MARGIN_S if ahead_s is None else ahead_s,
    )


def _frame(kind: str, rows) -> pd.DataFrame:
    """Rows (a DataFrame, or an iterable of mappings) as a DataFrame with exactly the reading columns."""
    columns = history(kind).copy_columns
    if isinstance(rows, pd.DataFrame):
        frame = rows
    else:
        rows = rows if isinstance(rows, list) else list(rows)
        if rows and not isinstance(rows[0], Mapping):
            raise TypeError("rows must be a pandas DataFrame or mappings (dicts)")
        try:
            frame = pd.DataFrame({column: [row[column] for row in rows] for column in columns})
        except KeyError as error:
            raise ValueError(f"{kind} reading is missing column {error.args[0]!r}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{kind} readings are missing columns: {', '.join(missing)}")
    return frame


def _timestamps_us(values: pd.Series) -> np.ndarray:
    """Aware timestamps as int64 microseconds since the PostgreSQL epoch; naive ones are refused."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = values
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        raise ValueError("reading timestamps must be timezone-aware")
    else:
        if any(getattr(value, "tzinfo", None) is None for value in values):
            raise ValueError("reading timestamps must be timezone-aware datetimes")
        stamps = pd.Series(pd.to_datetime(values.to_numpy(), utc=True))
    return pd.DatetimeIndex(stamps).as_unit("us").asi8 - PG_EPOCH_US  # asi8 of an aware index is UTC


@dataclass
class _Columns:
    equipment_id: np.ndarray
    ts_us: np.ndarray
    status: np.ndarray
    sensors: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.equipment_id)

    def take(self, index: np.ndarray | slice) -> _Columns:
        return _Columns(
            self.equipment_id[index], self.ts_us[index], self.status[index], [v[index] for v in self.sensors]
        )


def _columns(kind: str, rows) -> _Columns:
    frame = _frame(kind, rows)
    item = history(kind)
    status = frame["status"].astype(str).to_numpy(dtype=object)
    bad = set(pd.unique(status)) - {member.value for member in STATUSES[kind]}
    if bad:
        raise ValueError(f"unknown {kind} status {sorted(bad)[0]!r}")
    sensors = [frame[name].to_numpy(dtype=np.float64) for name in item.sensors]
    for name, values in zip(item.sensors, sensors, strict=True):
        if not np.isfinite(values).all():
            raise ValueError(f"{kind} sensor {name} has a missing or non-finite value")
    return _Columns(
        equipment_id=frame["equipment_id"].to_numpy(dtype=np.int64),
        ts_us=_timestamps_us(frame["ts"]),
        status=status,
        sensors=sensors,
    )


def _binary_rows(columns: _Columns) -> Iterable[bytes]:
    """Binary COPY tuples, built a status at a time: within one status every row has the same byte layout,
    so a NumPy structured array encodes them all at once (big-endian, as the format requires)."""
    codes, statuses = pd.factorize(columns.status)
    n_sensors = len(columns.sensors)
    for code, status in enumerate(statuses):
        index = np.flatnonzero(codes == code)
        encoded = status.encode()
        layout = [("fields", ">i2"), ("len_e", ">i4"), ("e", ">i8"), ("len_t", ">i4"), ("t", ">i8")]
        layout += [("len_s", ">i4"), ("s", f"S{len(encoded)}")]
        layout += [item for i in range(n_sensors) for item in ((f"len{i}", ">i4"), (f"v{i}", ">f8"))]
        out = np.empty(len(index), dtype=np.dtype(layout))
        out["fields"] = 3 + n_sensors
        out["len_e"] = out["len_t"] = 8
        out["e"] = columns.equipment_id[index]
        out["t"] = columns.ts_us[index]
        out["len_s"] = len(encoded)
        out["s"] = encoded
        for i, values in enumerate(columns.sensors):
            out[f"len{i}"] = 8
            out[f"v{i}"] = values[index]
        yield out.tobytes()


def _copy(cursor: psycopg.Cursor, table: str, column_names: list[str], columns: _Columns) -> None:
    statement = f'COPY "{table}" ({", ".join(column_names)}) FROM STDIN (FORMAT BINARY)'
    with cursor.copy(statement) as copy:
        copy.write(_COPY_HEADER)
        for start in range(0, len(columns), _SLICE_ROWS):
            for chunk in _binary_rows(columns.take(slice(start, start + _SLICE_ROWS))):
                copy.write(chunk)
        copy.write(_COPY_TRAILER)


def _raw_cursor() -> psycopg.Cursor:
    """A cursor on Django's own psycopg connection, so COPY runs in the caller's transaction."""
    connection.ensure_connection()
    return connection.connection.cursor()


def ingest_readings(
    kind: str, rows, *, update_state: bool = True, window: ReadingWindow | None = None
) -> IngestResult:
    """Store readings of one equipment kind and (by default) move each equipment's current state forward.

    `rows` is a pandas DataFrame or an iterable of dicts with `equipment_id`, `ts` (timezone-aware),
    `status` and every sensor of schema.SENSORS[kind]. Readings already stored (same equipment and time)
    are skipped and counted as duplicates. Runs in the caller's transaction (a savepoint inside it).
    Equipment state only moves forward: a reading older than `last_reading_at` never overwrites it.
    A batch with a time outside `window` (default: kept_window() now) is refused with ValueError before
    the database is touched.
    """
    item = history(kind)
    columns = _columns(kind, rows)
    if not len(columns):
        return IngestResult(0, 0)
    _check_window(columns.ts_us, window or kept_window())
    table = item.reading._meta.db_table
    days = np.unique((columns.ts_us + PG_EPOCH_US) // US_PER_DAY)
    with transaction.atomic():
        ensure_reading_partitions(kind, [dt.date(1970, 1, 1) + dt.timedelta(days=int(day)) for day in days])
        with _raw_cursor() as cursor:
            try:
                with transaction.atomic():  # a savepoint: a duplicate aborts only the fast path
                    _copy(cursor, table, item.copy_columns, columns)
                inserted = len(columns)
            except psycopg.errors.UniqueViolation:
                inserted = _copy_skipping_duplicates(cursor, table, item.copy_columns, columns)
            if update_state:
                _update_state(cursor, item, columns)
    return IngestResult(inserted=inserted, duplicates=len(columns) - inserted)


def partitions_ready(kind: str, ts: pd.Series) -> bool:
    """Whether `kind`'s reading table has a partition for the UTC day of each of `ts` (aware times)."""
    days = np.unique((pd.DatetimeIndex(ts).as_unit("us").asi8) // US_PER_DAY)
    return not missing_reading_partitions(
        kind, [dt.date(1970, 1, 1) + dt.timedelta(days=int(day)) for day in days]
    )


def _check_window(ts_us: np.ndarray, window: ReadingWindow) -> None:
    pg_epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    first, last = (pg_epoch + dt.timedelta(microseconds=int(us)) for us in (ts_us.min(), ts_us.max()))
    refusal = window.refusal(first, last)
    if refusal is not None:
        raise ValueError(refusal)


def update_equipment_state(kind: str, rows) -> None:
    """Move each equipment's current state forward to its newest reading among `rows` (stored already, e.g.
    by `ingest_readings(update_state=False)`), in the caller's transaction."""
    columns = _columns(kind, rows)
    if len(columns):
        with _raw_cursor() as cursor:
            _update_state(cursor, history(kind), columns)


def _copy_skipping_duplicates(cursor: psycopg.Cursor, table: str, names: list[str], columns: _Columns) -> int:
    """The slow path: COPY into a temporary staging table, then INSERT … ON CONFLICT DO NOTHING."""
    staging = f"_ingest_{table}"
    cursor.execute(f'DROP TABLE IF EXISTS "{staging}"')
    cursor.execute(
        f'CREATE TEMPORARY TABLE "{staging}" ON COMMIT DROP '
        f'AS SELECT {", ".join(names)} FROM "{table}" LIMIT 0'
    )
    _copy(cursor, staging, names, columns)
    column_list = ", ".join(names)
    cursor.execute(
        f'INSERT INTO "{table}" ({column_list}) SELECT {column_list} FROM "{staging}" '
        "ON CONFLICT (equipment_id, ts) DO NOTHING"
    )
    inserted = cursor.rowcount
    cursor.execute(f'DROP TABLE "{staging}"')
    return inserted


def _update_state(cursor: psycopg.Cursor, item: History, columns: _Columns) -> None:
    """Copy each equipment's newest reading in the batch onto its row, when newer than what it shows; rows
    are locked in id order first (fleet.locks).

    Few rows go as arrays in one statement. Many go by binary COPY into a temporary table first: psycopg
    adapts Python lists value by value, which at a thousand units costs more than the COPY of the readings,
    while a temporary table costs a few milliseconds of catalog work that small batches should not pay.
    """
    order = np.lexsort((columns.ts_us, columns.equipment_id))
    ids = columns.equipment_id[order]
    latest = columns.take(order[np.append(ids[1:] != ids[:-1], True)])
    locks.lock_units(cursor, item.equipment._meta.db_table, latest.equipment_id.tolist())  # ids ascending
    if len(latest) <= _ARRAY_UPDATE_MAX_ROWS:
        _update_state_from_arrays(cursor, item, latest)
        return
    staging = f"_latest_{item.equipment._meta.db_table}"
    names = item.copy_columns
    assignments = ", ".join(f"{name} = v.{name}" for name in ["status", *item.sensors])
    # Kept for the database session and emptied at commit: a table created and dropped every tick would add
    # and delete catalog rows (pg_class, pg_attribute) thousands of times an hour. One transaction around
    # the copy and the update, so a caller in autocommit mode does not see the rows emptied in between.
    with transaction.atomic():
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ON COMMIT DELETE ROWS '
            f'AS SELECT {", ".join(names)} FROM "{item.reading._meta.db_table}" LIMIT 0'
        )
        _copy(cursor, staging, names, latest)
        cursor.execute(
            f'WITH v AS (DELETE FROM "{staging}" RETURNING *) '
            f'UPDATE "{item.equipment._meta.db_table}" AS e SET {assignments}, last_reading_at = v.ts '
            "FROM v WHERE e.id = v.equipment_id "
            "AND (e.last_reading_at IS NULL OR e.last_reading_at < v.ts)"
        )


def _update_state_from_arrays(cursor: psycopg.Cursor, item: History, latest: _Columns) -> None:
    pg_epoch = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    when = [pg_epoch + dt.timedelta(microseconds=int(us)) for us in latest.ts_us]
    sensors = item.sensors
    assignments = ", ".join(f"{name} = v.{name}" for name in ["status", *sensors])
    arrays = ", ".join(["%s::bigint[]", "%s::timestamptz[]", "%s::text[]"] + ["%s::float8[]"] * len(sensors))
    cursor.execute(
        f'UPDATE "{item.equipment._meta.db_table}" AS e SET {assignments}, last_reading_at = v.ts '
        f"FROM unnest({arrays}) AS v(id, ts, status, {', '.join(sensors)}) "
        "WHERE e.id = v.id AND (e.last_reading_at IS NULL OR e.last_reading_at < v.ts)",
        [latest.equipment_id.tolist(), when, latest.status.tolist(), *(v.tolist() for v in latest.sensors)],
    )


# --- Rollups


@transaction.atomic
def rollup_readings(kind: str, *, start: dt.datetime, end: dt.datetime) -> int:
    """(Re)compute the one-minute avg/min/max rollups of `kind` for minutes in [start, end).

    Idempotent: a minute computed again (late readings) replaces the earlier figures.
    """
    item = history(kind)
    start = start.replace(second=0, microsecond=0)
    ensure_rollup_partitions(
        kind, days_between(start.astimezone(dt.UTC).date(), end.astimezone(dt.UTC).date())
    )
    aggregates = ", ".join(f"avg({n}), min({n}), max({n})" for n in item.sensors)
    targets = [f"{n}{suffix}" for n in item.sensors for suffix in ("_avg", "_min", "_max")]
    updates = ", ".join(f"{t} = EXCLUDED.{t}" for t in ["samples", *targets])
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{item.rollup._meta.db_table}" '
            f"(equipment_id, bucket, samples, {', '.join(targets)}) "
            f"SELECT equipment_id, date_trunc('minute', ts), count(*), {aggregates} "
            f'FROM "{item.reading._meta.db_table}" WHERE ts >= %s AND ts < %s GROUP BY 1, 2 '
            f"ON CONFLICT (equipment_id, bucket) DO UPDATE SET {updates}",
            [start, end],
        )
        return cursor.rowcount


#: Minutes re-rolled on each run, so readings that arrive a little late are still summarised.
ROLLUP_LOOKBACK_MINUTES = 15


def rollup_recent(*, now: dt.datetime | None = None) -> int:
    """Roll up the last complete minutes of every kind (the beat task)."""
    now = (now or dt.datetime.now(dt.UTC)).replace(second=0, microsecond=0)
    start = now - dt.timedelta(minutes=ROLLUP_LOOKBACK_MINUTES)
    return sum(rollup_readings(item.kind, start=start, end=now) for item in histories())
