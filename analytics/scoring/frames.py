"""Reads the reading history, event log and fault labels of PostgreSQL into the frames of analytics.ml.

The pure core was designed on one reading per unit per minute (docs/ml.md); live ticks store one every few
seconds and `simulate` one every 10 s. So readings are thinned in SQL to the last reading of each minute,
stamped with the minute's end: a value is never stamped earlier than it was read, so features stay causal.
Every query bounds `ts` with literal values (partition pruning) and is streamed out with COPY.

Live scoring refreshes every minute over the last 24 h; `RecentMinutes` keeps the minutes already read, so a
refresh reads only what is new instead of a day of raw readings (docs/ml.md, "Live scoring").
"""

from __future__ import annotations

import datetime as dt
import io
import time
from dataclasses import dataclass

import orjson
import pandas as pd
from django.db import connection
from psycopg import sql

from analytics.ml.features import REPAIR_EVENTS
from analytics.ml.history import History
from fleet import histories
from fleet.models import Site

#: Readings are kept at this spacing for the models; one per minute is what they were built and tuned on.
SAMPLE = dt.timedelta(minutes=1)
#: date_bin origin: buckets start on whole minutes.
ORIGIN = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
#: Events the features and targets use (docs/ml.md, "Frames").
EVENT_KINDS = ("breakdown", "maintenance_started", *REPAIR_EVENTS, "loaded", "dumped")
READING_KINDS = ("truck", "crusher", "stockpile")


def _copy_frame(query: sql.Composable, params: dict) -> pd.DataFrame:
    """Run `query` as COPY ... TO STDOUT (CSV) on Django's connection and parse it with pandas."""
    connection.ensure_connection()
    raw = connection.connection
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT CSV, HEADER)").format(query)
    buffer = io.BytesIO()
    with raw.cursor() as cursor, cursor.copy(statement, params) as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    return pd.read_csv(buffer)


def reading_frame(site_id: int, kind: str, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """One reading per unit per minute in [start, end): site_id, unit_kind, unit_id, ts, status, sensors."""
    history = histories.history(kind)
    sensors = history.sensors
    table = history.reading._meta.db_table
    units = history.equipment._meta.db_table
    query = sql.SQL(
        "SELECT DISTINCT ON (r.equipment_id, date_bin(%(step)s, r.ts, %(origin)s)) "
        "r.equipment_id AS unit_id, date_bin(%(step)s, r.ts, %(origin)s) + %(step)s AS ts, r.status, {cols} "
        "FROM {table} r WHERE r.ts >= %(start)s AND r.ts < %(end)s "
        "AND r.equipment_id IN (SELECT id FROM {units} WHERE site_id = %(site)s) "
        "ORDER BY r.equipment_id, date_bin(%(step)s, r.ts, %(origin)s), r.ts DESC"
    ).format(
        cols=sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(name)) for name in sensors),
        table=sql.Identifier(table),
        units=sql.Identifier(units),
    )
    params = {"step": SAMPLE, "origin": ORIGIN, "start": start, "end": end, "site": site_id}
    frame = _copy_frame(query, params)
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
    frame["status"] = frame["status"].astype("string")
    frame.insert(0, "site_id", site_id)
    frame.insert(1, "unit_kind", kind)
    for name in sensors:
        frame[name] = frame[name].astype("float64")
    return frame[["site_id", "unit_kind", "unit_id", "ts", "status", *sensors]]


def floor_minute(moment: dt.datetime) -> dt.datetime:
    """The start of the minute bucket holding `moment` (buckets start on whole minutes)."""
    return ORIGIN + (moment - ORIGIN) // SAMPLE * SAMPLE


@dataclass
class _Minutes:
    frame: pd.DataFrame  # reading_frame's rows, buckets starting at or after `start`
    start: dt.datetime
    read_until: dt.datetime  # the `end` of the last read: later buckets are not in the frame yet
    read_fully_at: float  # time.monotonic() of the last full read


class RecentMinutes:
    """Per-minute reading frames of recent refreshes, so the next refresh reads only the minutes that are new.

    A refresh every minute over a 24 h window would otherwise re-read and re-sort a day of raw readings each
    time: at 1,000 trucks reporting every few seconds, millions of rows a minute, a cost growing with the
    history until the window is full. The last `reread` before the previous read is read again, so readings
    that arrive a little late are seen; older backfills (an import, a gateway catching up) are picked up by a
    full read every `full_read_every_s`, or at once when the window moves back (a site reset). Frames are
    immutable under pandas' copy-on-write, so callers may change what they get without touching the cache.
    """

    def __init__(self, *, reread: dt.timedelta = dt.timedelta(minutes=2), full_read_every_s: float = 3600.0):
        self.reread = reread
        self.full_read_every_s = full_read_every_s
        self._frames: dict[tuple, _Minutes] = {}

    def frame(self, site_id: int, kind: str, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """What reading_frame(site_id, kind, start=floor_minute(start), end=end) returns, read as needed."""
        start = floor_minute(start)
        key = (connection.settings_dict["NAME"], site_id, kind)
        cached = self._frames.get(key)
        now = time.monotonic()
        if (
            cached is None
            or start < cached.start
            or end < cached.read_until
            or now - cached.read_fully_at >= self.full_read_every_s
        ):
            minutes = _Minutes(reading_frame(site_id, kind, start=start, end=end), start, end, now)
        else:
            frame = self._extend(cached, site_id, kind, start, end)
            minutes = _Minutes(frame, start, end, cached.read_fully_at)
        self._frames[key] = minutes
        return minutes.frame

    def _extend(self, cached: _Minutes, site_id: int, kind: str, start: dt.datetime, end: dt.datetime):
        boundary = max(start, floor_minute(cached.read_until - self.reread))
        bucket_start = cached.frame["ts"] - SAMPLE  # rows are stamped with their bucket's end
        kept = cached.frame.loc[(bucket_start >= _ns(start)) & (bucket_start < _ns(boundary))]
        fresh = reading_frame(site_id, kind, start=boundary, end=end)
        if fresh.empty:
            return kept.reset_index(drop=True)
        if kept.empty:
            return fresh
        # The order of a full read: by unit, then time (the stable sort keeps kept rows before fresh ones).
        merged = pd.concat([kept, fresh], ignore_index=True)
        return merged.sort_values(["unit_id", "ts"], kind="stable", ignore_index=True)


#: The live refresh's cache (one per worker process; analytics.scoring.tasks).
RECENT_MINUTES = RecentMinutes()


def event_frame(site_id: int, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """The site's events the models use, in [start, end), and each unit's last service before `start` (a
    repair, maintenance or its service record), so its age is known however long ago that was: site_id, ts,
    kind, unit_kind, unit_id, data."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ts, kind, unit_kind, unit_id, data FROM ("
            "  SELECT id, ts, kind, unit_kind, unit_id, data FROM fleet_simevent "
            "  WHERE site_id = %(site)s AND ts >= %(start)s AND ts < %(end)s AND kind = ANY(%(kinds)s) "
            "  UNION ALL "
            "  (SELECT DISTINCT ON (unit_kind, unit_id) id, ts, kind, unit_kind, unit_id, data "
            "   FROM fleet_simevent WHERE site_id = %(site)s AND ts < %(start)s AND kind = ANY(%(serviced)s) "
            "   ORDER BY unit_kind, unit_id, ts DESC, id DESC)"
            ") events ORDER BY ts, id",
            {"site": site_id, "start": start, "end": end, "kinds": list(EVENT_KINDS),
             "serviced": list(REPAIR_EVENTS)},
        )  # fmt: skip
        rows = cursor.fetchall()
    # Django's cursor hands jsonb over as text (its JSONField decodes it); decode it here the same way.
    rows = [(*row[:4], orjson.loads(row[4]) if isinstance(row[4], str | bytes) else row[4]) for row in rows]
    frame = pd.DataFrame.from_records(rows, columns=["ts", "kind", "unit_kind", "unit_id", "data"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]")
    frame["unit_id"] = frame["unit_id"].astype("int64")
    frame.insert(0, "site_id", site_id)
    return frame


def label_frame(site_id: int, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Injected-fault ground truth overlapping [start, end) (simulated sites only; empty for real ones)."""
    columns = ["site_id", "fault_id", "category", "label", "unit_kind", "unit_id", "sensors", "start", "end"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT fault_id, category, label, unit_kind, unit_id, sensors, started_at, "
            "COALESCE(ended_at, LEAST(planned_end_at, %s), %s) FROM fleet_faultlabel "
            "WHERE site_id = %s AND started_at < %s AND COALESCE(ended_at, %s) >= %s",
            [end, end, site_id, end, end, start],
        )
        rows = [(site_id, *row[:5], tuple(row[5] or ()), *row[6:]) for row in cursor.fetchall()]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for column in ("start", "end"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    return frame


def site_history(
    site: Site,
    *,
    start: dt.datetime,
    end: dt.datetime,
    kinds: tuple[str, ...] = READING_KINDS,
    events_from: dt.datetime | None = None,
    labels: bool = True,
    recent: RecentMinutes | None = None,
) -> History:
    """Readings of `kinds`, events (from `events_from`, default `start`) and labels of one site as a History.

    Live scoring reads events further back than readings, so hours since the last repair are known, and
    passes `recent` to read only the minutes its previous refresh did not (the window then starts on a whole
    minute)."""
    if recent is None:
        readings = {kind: reading_frame(site.pk, kind, start=start, end=end) for kind in kinds}
    else:
        readings = {kind: recent.frame(site.pk, kind, start=start, end=end) for kind in kinds}
    return History(
        readings=readings,
        events=event_frame(site.pk, start=events_from or start, end=end),
        labels=label_frame(site.pk, start=start, end=end) if labels else pd.DataFrame(),
        meta={"site_id": site.pk, "start": _ns(start), "end": _ns(end)},
    )


def _ns(moment: dt.datetime) -> pd.Timestamp:
    """A UTC timestamp in nanoseconds, the unit of every frame (merge keys must share it)."""
    return pd.Timestamp(moment).tz_convert("UTC").as_unit("ns")
