"""Rebuild a site's KPI ledgers from its raw history (`manage.py rebuild_kpi_ledgers`): for history written
before the ledgers existed, or imported from CSV. The same arithmetic as the tick (analytics.kpis.ledger),
fed day by day from server-side cursors, in one transaction holding the site's row lock: ticks of that
site are skipped meanwhile (they catch up after), and a failure leaves the old ledgers as they were."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

import orjson
from django.db import connection, transaction

from analytics.kpis import kept, ledger_store
from analytics.kpis.ledger import Accumulator
from analytics.kpis.ledger_store import save
from analytics.kpis.models import KpiLedger, KpiLedgerCursor, KpiLedgerSpan
from fleet.models import Site

DAY = dt.timedelta(days=1)
#: Rows per round trip of the server-side cursors.
FETCH_ROWS = 20_000
#: Per kind: the reading table, its equipment table and the sensor the ledger needs.
SOURCES = {
    "truck": ("fleet_truckreading", "fleet_truck", "fuel_l"),
    "crusher": ("plants_crusherreading", "plants_crusher", "throughput_tph"),
    "stockpile": ("stockpiles_stockpilereading", "stockpiles_stockpile", "discharge_rate_tph"),
}


def _readings(site_id: int, kind: str, start: dt.datetime, end: dt.datetime) -> Iterator[tuple]:
    table, units, sensor = SOURCES[kind]
    with connection.chunked_cursor() as cursor:
        cursor.cursor.itersize = FETCH_ROWS  # psycopg's server-side cursor fetches 100 rows a trip otherwise
        cursor.execute(
            f"SELECT r.ts, r.equipment_id, r.status, r.{sensor} FROM {table} r "
            f"WHERE r.ts >= %s AND r.ts < %s "
            f"AND r.equipment_id IN (SELECT id FROM {units} WHERE site_id = %s) "
            "ORDER BY r.ts, r.equipment_id",
            [start, end, site_id],
        )
        yield from cursor


def _events(site_id: int, start: dt.datetime, end: dt.datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ts, kind, unit_kind, unit_id, data FROM fleet_simevent WHERE site_id = %s "
            "AND ts >= %s AND ts < %s AND kind IN ('queued', 'loaded', 'dumped') ORDER BY ts, id",
            [site_id, start, end],
        )
        return [(*row[:4], orjson.loads(row[4]) if isinstance(row[4], str) else row[4]) for row in cursor]


def _hour_floor(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def history_span(site_id: int) -> tuple[dt.datetime, dt.datetime] | None:
    """The first and last time of the site's readings and events (None: no history)."""
    bounds = []
    with connection.cursor() as cursor:
        for table, units, _ in SOURCES.values():
            cursor.execute(
                f"SELECT min(ts), max(ts) FROM {table} WHERE equipment_id IN "
                f"(SELECT id FROM {units} WHERE site_id = %s)",
                [site_id],
            )
            bounds.append(cursor.fetchone())
    found = [pair for pair in bounds if pair[0] is not None]
    if not found:
        return None
    return min(first for first, _ in found), max(last for _, last in found)


def rebuild_site(site_id: int, *, progress: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Replace the site's ledgers, cursors and span with those its raw history gives."""
    with transaction.atomic():
        Site.objects.select_for_update().get(pk=site_id)  # ticks of this site wait, then skip
        for model in (KpiLedger, KpiLedgerCursor, KpiLedgerSpan):
            model.objects.filter(site_id=site_id).delete()
        ledger_store.forget_span(site_id)
        kept.forget([site_id])
        span = history_span(site_id)
        if span is None:
            progress("no history: nothing to rebuild")
            return {"days": 0, "readings": 0, "rows": 0}
        first, last = span
        day = first.replace(hour=0, minute=0, second=0, microsecond=0)
        days = (last - day) // DAY + 1
        accumulator = Accumulator()
        totals = {"days": 0, "readings": 0, "rows": 0}
        for number in range(1, days + 1):
            start, end = day, day + DAY
            readings = _feed_day(accumulator, site_id, start, end)
            rows = len(accumulator.rows)
            save(site_id, accumulator, since=_hour_floor(first))  # nothing before `first`: its hour is whole
            accumulator.rows.clear()
            accumulator.changed.clear()
            totals["days"] += 1
            totals["readings"] += readings
            totals["rows"] += rows
            progress(f"day {number}/{days} ({start:%Y-%m-%d}): {readings:,} readings, {rows:,} ledger rows")
            day = end
        accumulator.changed.update(accumulator.last)
        save(site_id, accumulator)  # the cursors: the next tick continues from the last readings
        return totals


def _feed_day(accumulator: Accumulator, site_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """Events and readings of one day in time order (an event before a reading of the same time)."""
    events = _events(site_id, start, end)
    position = 0
    count = 0
    for kind in SOURCES:
        sensor = SOURCES[kind][2]
        for ts, unit_id, status, value in _readings(site_id, kind, start, end):
            ts_s = ts.timestamp()
            if kind == "truck":
                while position < len(events) and events[position][0] <= ts:
                    event_ts, event_kind, unit_kind, event_unit, data = events[position]
                    accumulator.event(event_ts.timestamp(), event_kind, unit_kind, event_unit, data)
                    position += 1
            accumulator.reading(kind, unit_id, ts_s, {"status": status, sensor: value})
            count += 1
        if kind == "truck":
            for event_ts, event_kind, unit_kind, event_unit, data in events[position:]:
                accumulator.event(event_ts.timestamp(), event_kind, unit_kind, event_unit, data)
            position = len(events)
    return count
