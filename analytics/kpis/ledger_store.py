"""The KPI ledgers in PostgreSQL: fed by the tick, `simulate` and telemetry ingest (fleet.hooks), read by
/api/mining/kpis (analytics.kpis.selectors). The arithmetic is analytics.kpis.ledger's (pure).

Each save adds its increments in ONE statement (`INSERT … ON CONFLICT DO UPDATE` adding to the hour's row,
with the units' cursors upserted in a CTE of the same statement), inside the transaction that writes the
readings: a tick that rolls back leaves no trace in the ledger.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from django.db import connection, transaction

from analytics.kpis import kept
from analytics.kpis.ledger import (
    CARRIED,
    COLUMNS,
    COUNT_COLUMNS,
    MAX_HELD_S,
    Accumulator,
    Last,
    add_crusher,
    add_rows,
)
from analytics.kpis.ledger_columns import ReadingColumns, add_readings
from analytics.kpis.models import KpiLedger, KpiLedgerCursor, KpiLedgerSpan

_LEDGER = KpiLedger._meta.db_table
_CURSOR = KpiLedgerCursor._meta.db_table
_SPAN = KpiLedgerSpan._meta.db_table
#: `simulate` writes history in batches from one process: each history batch continues from the tail of the
#: previous one (site id -> (clock of its last step, cursors)), since the cursor table holds the live units'
#: newer readings when the history is backfilled before them.
_history_tails: dict[int, tuple[float, dict]] = {}
#: Sites known to have a ledger span (analytics_kpiledgerspan), so a save does not look it up again.
_spanned: set[int] = set()


def _utc(ts_s: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_s, dt.UTC)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _sql_type(column: str) -> str:
    return "int8" if column in COUNT_COLUMNS else "float8"


def load_cursors(site_id: int) -> dict[tuple[str, int], Last]:
    with connection.cursor() as cursor:
        cursor.execute(
            # The time as epoch seconds, as the ledger keeps it: no datetime built per unit and batch.
            "SELECT unit_kind, unit_id, extract(epoch FROM ts)::float8, status, fuel_l, throughput_tph, "
            f"queue_at FROM {_CURSOR} WHERE site_id = %s",
            [site_id],
        )
        return {
            (kind, unit): Last(ts_s, status, fuel_l=fuel, throughput_tph=tph, queue_at=queue_at)
            for kind, unit, ts_s, status, fuel, tph, queue_at in cursor.fetchall()
        }


def save(site_id: int, accumulator: Accumulator, *, since: dt.datetime | None = None) -> None:
    """The accumulator's increments and changed cursors in one statement (`since`: start the site's span).

    The rows reach the server by binary COPY into this connection's staging tables (psycopg encodes COPY
    rows in C; as array parameters it adapts each value in Python: 30 ms a tick at 1,000 trucks against 6),
    and one statement moves them into the ledger and the cursors.
    """
    rows = accumulator.rows
    changed = [(key, accumulator.last[key]) for key in accumulator.changed]
    if not rows and not changed:
        return
    keys = list(rows)
    # A tick touches few of the 48 columns (a truck's status seconds, now and then a load or a dump): only
    # those are copied and added on conflict; the staging table's defaults fill the others with zeros.
    used = [name for name in COLUMNS if any(rows[key][name] for key in keys)]
    columns = ", ".join(COLUMNS)
    additions = ", ".join(f"{name} = {_LEDGER}.{name} + EXCLUDED.{name}" for name in used) or (
        f"readings = {_LEDGER}.readings"
    )
    span = (
        f", span AS (INSERT INTO {_SPAN} (site_id, since) VALUES (%(site)s, %(since)s) "
        "ON CONFLICT (site_id) DO NOTHING)"
        if since is not None
        else ""
    )
    cursor_rows = (
        (kind, unit, _utc(last.ts_s), last.status, _float(last.fuel_l), _float(last.throughput_tph),
         last.queue_at)
        for (kind, unit), last in changed
    )  # fmt: skip
    ledger_rows = (
        (_utc(key[0]), key[1], key[2], *((int if name in COUNT_COLUMNS else float)(rows[key][name])
                                          for name in used))
        for key in keys
    )  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        _ensure_staging(cursor)
        _copy_rows(cursor, _STAGED_CURSORS, _CURSOR_FIELDS, cursor_rows)
        ledger_fields = [*_KEY_FIELDS, *((name, _sql_type(name)) for name in used)]
        _copy_rows(cursor, _STAGED_LEDGER, ledger_fields, ledger_rows)
        cursor.execute(
            f"""
            WITH staged_cursors AS (DELETE FROM {_STAGED_CURSORS} RETURNING *),
            cursors AS (
                INSERT INTO {_CURSOR}
                    (site_id, unit_kind, unit_id, ts, status, fuel_l, throughput_tph, queue_at)
                SELECT %(site)s, unit_kind, unit_id, ts, status, fuel_l, throughput_tph, queue_at
                FROM staged_cursors
                ON CONFLICT (unit_kind, unit_id) DO UPDATE SET
                    site_id = EXCLUDED.site_id, ts = EXCLUDED.ts, status = EXCLUDED.status,
                    fuel_l = EXCLUDED.fuel_l, throughput_tph = EXCLUDED.throughput_tph,
                    queue_at = EXCLUDED.queue_at
                WHERE {_CURSOR}.ts <= EXCLUDED.ts
            ){span},
            staged AS (DELETE FROM {_STAGED_LEDGER} RETURNING *)
            INSERT INTO {_LEDGER} (site_id, hour, unit_kind, unit_id, {columns})
            SELECT %(site)s, hour, unit_kind, unit_id, {columns} FROM staged
            ON CONFLICT (site_id, hour, unit_kind, unit_id) DO UPDATE SET {additions}
            """,
            {"site": site_id, "since": since},
        )


#: This connection's staging tables (temporary: created once per database session, emptied at commit).
_STAGED_LEDGER = "_kpi_ledger_staged"
_STAGED_CURSORS = "_kpi_cursor_staged"
_KEY_FIELDS = [("hour", "timestamptz"), ("unit_kind", "text"), ("unit_id", "int8")]
_CURSOR_FIELDS = [("unit_kind", "text"), ("unit_id", "int8"), ("ts", "timestamptz"), ("status", "text"),
                  ("fuel_l", "float8"), ("throughput_tph", "float8"), ("queue_at", "text")]  # fmt: skip


def _ensure_staging(cursor: Any) -> None:
    """Create the staging tables if this session has none yet. They outlive the transaction, so a tick
    adds no catalog rows (a table created and dropped per tick would bloat pg_class and pg_attribute over a
    long run); `ON COMMIT DELETE ROWS` empties them and the save drains them itself (`DELETE … RETURNING`)."""
    counts = ", ".join(f"{name} {_sql_type(name)} NOT NULL DEFAULT 0" for name in COLUMNS)
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED_LEDGER} "
        f"(hour timestamptz NOT NULL, unit_kind text NOT NULL, unit_id int8 NOT NULL, {counts}) "
        "ON COMMIT DELETE ROWS"
    )
    fields = ", ".join(f"{name} {sql_type}" for name, sql_type in _CURSOR_FIELDS)
    cursor.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED_CURSORS} ({fields}) ON COMMIT DELETE ROWS")


def _copy_rows(cursor: Any, table: str, fields: list[tuple[str, str]], rows: Any) -> None:
    names = ", ".join(name for name, _ in fields)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([sql_type for _, sql_type in fields])
        for row in rows:
            copy.write_row(row)


def _span_start(site_id: int, first: dt.datetime) -> dt.datetime:
    """Where a site's first ledger save starts its span: the hour of `first` when the site has no readings
    before it (the hour is then whole), else `first`."""
    from analytics.kpis.rebuild import SOURCES

    hour = first.replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        for table, units, _ in SOURCES.values():
            cursor.execute(
                f"SELECT 1 FROM {table} WHERE ts >= %s AND ts < %s "
                f"AND equipment_id IN (SELECT id FROM {units} WHERE site_id = %s) LIMIT 1",
                [hour, first, site_id],
            )
            if cursor.fetchone():
                return first
    return hour


def forget_span(site_id: int) -> None:
    _spanned.discard(site_id)


def _since(site_id: int, first: dt.datetime) -> dt.datetime | None:
    """`since` for a save: None once the site has a span (kept in memory: one lookup per process)."""
    if site_id in _spanned:
        return None
    if KpiLedgerSpan.objects.filter(site_id=site_id).exists():
        _spanned.add(site_id)
        return None
    return _span_start(site_id, first)


def record_steps(site: Any, records: list, *, history_only: bool) -> None:
    """fleet.hooks after_history: a tick's (or a `simulate` batch's) steps into the site's ledgers."""
    if not records:
        return
    first_s = records[0].clock_s
    cursors = load_cursors(site.pk)
    if history_only:
        tail = _history_tails.get(site.pk)
        if tail is not None and 0 < first_s - tail[0] <= MAX_HELD_S:
            cursors = {**cursors, **tail[1]}
        cursors = {key: last for key, last in cursors.items() if last.ts_s < first_s}
    accumulator = Accumulator(cursors)
    for record in records:
        accumulator.step(record.clock_s, record.readings, record.events)
    if history_only:
        _history_tails[site.pk] = (records[-1].clock_s, dict(accumulator.last))
        _extend_span(site.pk, _utc(first_s), _utc(records[-1].clock_s))
    save(site.pk, accumulator, since=_since(site.pk, _utc(first_s)))


def _extend_span(site_id: int, first: dt.datetime, last: dt.datetime) -> None:
    """A history batch before the site's span: track the backfill, and move `since` back once it meets it."""
    span = KpiLedgerSpan.objects.filter(site_id=site_id).first()
    if span is None or first >= span.since:
        return
    held = dt.timedelta(seconds=MAX_HELD_S)
    if span.backfill_to is None or not (dt.timedelta(0) < first - span.backfill_to <= held):
        span.backfill_from = first
    span.backfill_to = last
    if span.since - last <= held:
        span.since, span.backfill_from, span.backfill_to = span.backfill_from, None, None
    span.save()


def record_telemetry(kind: str, readings: Any) -> None:
    """fleet.hooks after_telemetry: live equipment's readings into its site's ledgers, unit by unit in time
    order (a reading older than the unit's latest one adds nothing: the ledger is not rewritten).

    Column-wise (analytics.kpis.ledger_columns): an MQTT batch holds thousands of readings."""
    if readings is None or not len(readings):
        return
    import numpy as np

    from fleet import units

    ids = readings["equipment_id"].to_numpy(dtype=np.int64)
    table = units.get(kind).model._meta.db_table
    unit_ids, which = np.unique(ids, return_inverse=True)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id, site_id FROM "{table}" WHERE id = ANY(%s)', [unit_ids.tolist()])
        sites = dict(cursor.fetchall())
    site_of = np.array([sites.get(unit, -1) for unit in unit_ids.tolist()], dtype=np.int64)[which]
    ts_s = pd.DatetimeIndex(readings["ts"]).as_unit("us").asi8 / 1e6
    missing = np.full(len(readings), np.nan)

    def numbers(name: str) -> np.ndarray:
        return readings[name].to_numpy(dtype=np.float64) if name in readings else missing

    site_ids = np.unique(site_of[site_of >= 0]).tolist()
    kept.forget(site_ids)  # the shift's figures kept by the last tick miss these readings
    for site_id in site_ids:
        chosen = site_of == site_id
        accumulator = Accumulator(load_cursors(site_id))
        columns = ReadingColumns(
            unit_id=ids[chosen],
            ts_s=ts_s[chosen],
            status=readings["status"].to_numpy(dtype=object)[chosen],
            fuel_l=numbers("fuel_l")[chosen],
            throughput_tph=numbers("throughput_tph")[chosen],
            discharge_rate_tph=numbers("discharge_rate_tph")[chosen],
        )
        add_readings(accumulator, kind, columns)
        save(site_id, accumulator, since=_since(site_id, _utc(float(columns.ts_s.min()))))


def ledger_since(site_id: int) -> dt.datetime | None:
    """From when the site's ledgers are complete (None: no ledger yet)."""
    return KpiLedgerSpan.objects.filter(site_id=site_id).values_list("since", flat=True).first()


def add_ledger(
    parts: dict, site_id: int, *, start: dt.datetime, end: dt.datetime, drop_carry: bool, add_carry: bool
) -> dict:
    """The ledger rows of the hours starting in [start, end), summed per unit, added into `parts`.

    As the raw SQL does for a window: `drop_carry` leaves out what readings before `start` hold into it (the
    window starts at `start`); `add_carry` adds what readings before `end` hold past it (a raw edge follows
    from `end`, which does not count them)."""
    sums = []
    for name in COLUMNS:
        value = f"COALESCE(sum({name}) FILTER (WHERE hour < %(end)s), 0)"
        if name in CARRIED and drop_carry:
            value += f" - COALESCE(sum(carry_{name}) FILTER (WHERE hour = %(start)s), 0)"
        if name in CARRIED and add_carry:
            value += f" + COALESCE(sum(carry_{name}) FILTER (WHERE hour = %(end)s), 0)"
        sums.append(f"({value})::float8 AS {name}")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT unit_kind, unit_id, {', '.join(sums)} FROM {_LEDGER} "
            f"WHERE site_id = %(site)s AND hour >= %(start)s AND hour {'<=' if add_carry else '<'} %(end)s "
            "GROUP BY unit_kind, unit_id",
            {"site": site_id, "start": start, "end": end},
        )
        names = [column.name for column in cursor.description]
        return add_rows(parts, [dict(zip(names, row, strict=True)) for row in cursor.fetchall()])


def add_open(parts: dict, site_id: int, *, start: dt.datetime, end: dt.datetime) -> dict:
    """The time each unit's latest reading holds until `end` (at most MAX_HELD), as the raw SQL counts a last
    reading: for a window the ledgers cover to its end, which no later reading has closed yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT unit_kind, unit_id, ts, status, throughput_tph, queue_at FROM {_CURSOR} "
            "WHERE site_id = %s AND ts >= %s AND ts < %s",
            [site_id, start, end],
        )
        for kind, unit, ts, status, tph, queue_at in cursor.fetchall():
            seconds = min((end - ts).total_seconds(), MAX_HELD_S)
            if kind == "truck":
                parts["truck_state_s"][status] += seconds
                if status == "queued_at_dump" and queue_at in ("crusher", "dump"):
                    parts["queue_at_dump_s"][queue_at] += seconds
            elif kind == "crusher":
                add_crusher(parts, unit, (tph or 0.0) * seconds / 3600.0, {status: seconds})
    return parts
