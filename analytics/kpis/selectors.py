"""The SQL aggregates behind the KPIs (docs/kpis.md), over the reading history and the event log. Every
query bounds `ts` with literal values so PostgreSQL prunes the daily partitions at plan time."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from analytics.kpis import formulas, ledger, ledger_store
from fleet.choices import TruckStatus

# --- KPI aggregates (docs/kpis.md): one SQL statement each, combined by analytics.kpis.formulas

#: A reading's status holds until the equipment's next reading, but no longer than this: a gap in the
#: telemetry is not hours in one state.
MAX_HELD = dt.timedelta(minutes=5)

_HELD = "extract(epoch FROM LEAST(COALESCE(lead(r.ts) OVER w, %(end)s), r.ts + %(held)s, %(end)s) - r.ts)"


def _query(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def truck_state_seconds(
    site_id: int, *, start: dt.datetime, end: dt.datetime
) -> tuple[dict, dict, float, set[int]]:
    """Truck-seconds in each status, queue seconds at tipping points by destination kind (crusher, dump),
    litres of fuel burned (the sum of each truck's fuel drops between readings; refuels are rises) and the
    trucks that reported in the window (for coverage).

    The queue's destination is the `at` of the truck's latest `queued` event at or before the reading.
    """
    params = {"site": site_id, "start": start, "end": end, "held": MAX_HELD}
    rows = _query(
        f"""
        WITH r AS (
            SELECT r.equipment_id, r.ts, r.status, {_HELD} AS held_s,
                   GREATEST(lag(r.fuel_l) OVER w - r.fuel_l, 0) AS burned_l
            FROM fleet_truckreading r
            WHERE r.ts >= %(start)s AND r.ts < %(end)s
              AND r.equipment_id IN (SELECT id FROM fleet_truck WHERE site_id = %(site)s)
            WINDOW w AS (PARTITION BY r.equipment_id ORDER BY r.ts)
        )
        SELECT r.status, q.at, sum(r.held_s)::float8 AS seconds,
               COALESCE(sum(r.burned_l), 0)::float8 AS burned_l,
               (SELECT array_agg(DISTINCT equipment_id) FROM r) AS truck_ids
        FROM r LEFT JOIN LATERAL (
            SELECT e.data->>'at' AS at FROM fleet_simevent e
            WHERE r.status = 'queued_at_dump' AND e.unit_kind = 'truck' AND e.unit_id = r.equipment_id
              AND e.ts <= r.ts AND e.ts > r.ts - interval '1 day' AND e.kind = 'queued'
            ORDER BY e.ts DESC LIMIT 1
        ) q ON true
        GROUP BY 1, 2
        """,
        params,
    )
    states: dict[str, float] = {}
    queues: dict[str, float] = {}
    for row in rows:
        states[row["status"]] = states.get(row["status"], 0.0) + row["seconds"]
        if row["status"] == TruckStatus.QUEUED_AT_DUMP and row["at"]:
            queues[row["at"]] = queues.get(row["at"], 0.0) + row["seconds"]
    trucks = set(rows[0]["truck_ids"] or ()) if rows else set()
    return states, queues, sum(row["burned_l"] for row in rows), trucks


def haul_events(site_id: int, *, start: dt.datetime, end: dt.datetime) -> dict:
    """Tonnes dumped by material and destination, loads, payload ratios (their sum and how many had a rated
    payload) and who loaded (truck and loader ids), from the event log."""
    payload = "(data->>'payload_t')::float8"
    share = f"{payload} / NULLIF((data->>'rated_payload_t')::float8, 0)"
    dumped, loaded = "kind = 'dumped'", "kind = 'loaded'"
    [row] = _query(
        f"""
        SELECT
            count(*) FILTER (WHERE {dumped}) AS dumps,
            COALESCE(sum({payload}) FILTER (WHERE {dumped} AND data->>'material' = 'ore'), 0) AS ore_t,
            COALESCE(sum({payload}) FILTER (WHERE {dumped} AND data->>'material' = 'waste'), 0) AS waste_t,
            COALESCE(sum({payload}) FILTER (WHERE {dumped} AND data->>'destination_kind' = 'crusher'), 0)
                AS to_crushers_t,
            COALESCE(sum({payload}) FILTER (WHERE {dumped} AND data->>'destination_kind' = 'dump'), 0)
                AS to_dumps_t,
            count(*) FILTER (WHERE {dumped} AND data->>'destination_kind' = 'crusher') AS dumps_to_crushers,
            count(*) FILTER (WHERE {dumped} AND data->>'destination_kind' = 'dump') AS dumps_to_dumps,
            count(*) FILTER (WHERE {loaded}) AS loads,
            count({share}) FILTER (WHERE {loaded}) AS rated_loads,
            COALESCE(sum({share}) FILTER (WHERE {loaded}), 0) AS payload_ratio_sum,
            count(*) FILTER (WHERE {loaded} AND {share} > 1.1) AS over_110,
            count(*) FILTER (WHERE {loaded} AND {share} > 1.2) AS over_120,
            array_agg(DISTINCT unit_id) FILTER (WHERE {loaded}) AS loading_trucks,
            array_agg(DISTINCT (data->>'loader_id')::bigint) FILTER (WHERE {loaded} AND data ? 'loader_id')
                AS loaders
        FROM fleet_simevent
        WHERE site_id = %(site)s AND kind IN ('dumped', 'loaded') AND ts >= %(start)s AND ts < %(end)s
          AND unit_kind = 'truck'
        """,
        {"site": site_id, "start": start, "end": end},
    )
    ids = {key: set(row.pop(key) or ()) for key in ("loading_trucks", "loaders")}
    return {**{key: float(value) for key, value in row.items()}, **ids}


def crusher_seconds(site_id: int, *, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per crusher of the site that reported in the window: seconds in each status (`state_s`) and tonnes
    crushed (throughput x time held)."""
    rows = _query(
        f"""
        WITH r AS (
            SELECT r.equipment_id, r.status, r.throughput_tph, {_HELD} AS held_s
            FROM plants_crusherreading r
            WHERE r.ts >= %(start)s AND r.ts < %(end)s
              AND r.equipment_id IN (SELECT id FROM plants_crusher WHERE site_id = %(site)s)
            WINDOW w AS (PARTITION BY r.equipment_id ORDER BY r.ts)
        )
        SELECT c.id, c.name, c.rated_capacity_tph AS rated_tph, r.status,
               sum(r.held_s)::float8 AS seconds,
               sum(r.throughput_tph * r.held_s / 3600.0)::float8 AS tonnes_t
        FROM r JOIN plants_crusher c ON c.id = r.equipment_id
        GROUP BY c.id, c.name, c.rated_capacity_tph, r.status
        ORDER BY c.name, r.status
        """,
        {"site": site_id, "start": start, "end": end, "held": MAX_HELD},
    )
    crushers: dict[int, dict] = {}
    for row in rows:
        unit = crushers.setdefault(
            row["id"],
            {
                "id": row["id"],
                "name": row["name"],
                "rated_tph": row["rated_tph"],
                "tonnes_t": 0.0,
                "state_s": {},
            },
        )
        unit["state_s"][row["status"]] = row["seconds"]
        unit["tonnes_t"] += row["tonnes_t"]
    return list(crushers.values())


def stockpile_reclaim(site_id: int, *, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per stockpile of the site: readings in the window and the sum of their reclaim rates."""
    return _query(
        """
        SELECT r.equipment_id AS id, count(*) AS readings,
               sum(r.discharge_rate_tph)::float8 AS reclaim_tph_sum
        FROM stockpiles_stockpilereading r
        WHERE r.ts >= %(start)s AND r.ts < %(end)s
          AND r.equipment_id IN (SELECT id FROM stockpiles_stockpile WHERE site_id = %(site)s)
        GROUP BY 1
        """,
        {"site": site_id, "start": start, "end": end},
    )


def stockpile_levels(site_id: int, *, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per stockpile of the site with a reading in the window: its level at the last one (an index lookup
    on (equipment_id, ts) per pile)."""
    return _query(
        """
        SELECT s.id, s.name, s.capacity_t, r.level_t
        FROM stockpiles_stockpile s CROSS JOIN LATERAL (
            SELECT level_t FROM stockpiles_stockpilereading
            WHERE equipment_id = s.id AND ts >= %(start)s AND ts < %(end)s ORDER BY ts DESC LIMIT 1
        ) r
        WHERE s.site_id = %(site)s
        ORDER BY s.id
        """,
        {"site": site_id, "start": start, "end": end},
    )


def add_raw(parts: dict, site_id: int, *, start: dt.datetime, end: dt.datetime) -> dict:
    """The raw history's figures of [start, end) added into ledger `parts` (analytics.kpis.ledger)."""
    states, queues, burned_l, trucks = truck_state_seconds(site_id, start=start, end=end)
    for status, seconds in states.items():
        parts["truck_state_s"][status] += seconds
    for at, seconds in queues.items():
        parts["queue_at_dump_s"][at] += seconds
    parts["fuel_burned_l"] += burned_l
    parts["truck_ids"] |= trucks
    events = haul_events(site_id, start=start, end=end)
    parts["loading_trucks"] |= events.pop("loading_trucks")
    parts["loaders"] |= events.pop("loaders")
    for name, value in events.items():
        parts["events"][name] += value
    for crusher in crusher_seconds(site_id, start=start, end=end):
        ledger.add_crusher(parts, crusher["id"], crusher["tonnes_t"], crusher["state_s"])
    for pile in stockpile_reclaim(site_id, start=start, end=end):
        ledger.add_stockpile(parts, pile["id"], pile["readings"], pile["reclaim_tph_sum"])
    return parts


def _hour_floor(when: dt.datetime) -> dt.datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(when: dt.datetime) -> dt.datetime:
    floor = _hour_floor(when)
    return floor if floor == when else floor + dt.timedelta(hours=1)


def window_parts(
    site_id: int, *, start: dt.datetime, end: dt.datetime, clock: dt.datetime | None = None
) -> tuple[dict, dict[str, tuple[dt.datetime, dt.datetime]]]:
    """The window's parts: whole hours from the ledgers, the ragged edges from raw history.

    Hours before the site's ledgers are complete (`ledger_since`) are raw too. A window that ends at or
    after the site's simulated `clock` (the current shift) has no data after its end: the ledger's current,
    partial hour is the end edge, and nothing is read raw there. Returns the parts and what was read how.
    """
    since = ledger_store.ledger_since(site_id)
    parts = ledger.empty_parts()
    plan: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    first = max(_hour_ceil(start), _hour_ceil(since)) if since is not None else end
    last = end if clock is not None and end >= clock else _hour_floor(end)
    if since is None or first >= last:
        plan["raw"] = (start, end)
        return add_raw(parts, site_id, start=start, end=end), plan
    plan["ledger"] = (first, last)
    ledger_store.add_ledger(
        parts, site_id, start=first, end=last, drop_carry=start == first, add_carry=last < end
    )
    if start < first:
        plan["raw_start"] = (start, first)
        add_raw(parts, site_id, start=start, end=first)
    if last < end:
        plan["raw_end"] = (last, end)
        add_raw(parts, site_id, start=last, end=end)
    else:
        ledger_store.add_open(parts, site_id, start=start, end=end)
    return parts, plan


def crusher_rows(site_id: int, crushers: dict[int, dict]) -> list[dict]:
    """Crusher parts with each crusher's name and rated capacity, by name."""
    rows = _query(
        "SELECT id, name, rated_capacity_tph AS rated_tph FROM plants_crusher WHERE site_id = %(site)s",
        {"site": site_id},
    )
    return sorted(
        (
            {
                **row,
                "tonnes_t": crushers[row["id"]]["tonnes_t"],
                "state_s": dict(crushers[row["id"]]["state_s"]),
            }
            for row in rows
            if row["id"] in crushers
        ),
        key=lambda row: row["name"],
    )


def kpi_aggregates(
    site_id: int, *, start: dt.datetime, end: dt.datetime, clock: dt.datetime | None = None, raw: bool = False
) -> formulas.Aggregates:
    """Everything analytics.kpis.formulas.mine_kpis needs for one site and window: whole hours from the KPI
    ledgers, ragged edges from raw history (`raw=True`: all of it from raw history)."""
    if raw:
        parts = add_raw(ledger.empty_parts(), site_id, start=start, end=end)
    else:
        parts, _ = window_parts(site_id, start=start, end=end, clock=clock)
    reclaim = parts["stockpiles"]
    stockpiles = [
        {
            **pile,
            "mean_reclaim_tph": (
                reclaim[pile["id"]]["reclaim_tph_sum"] / reclaim[pile["id"]]["readings"]
                if reclaim.get(pile["id"], {}).get("readings")
                else None
            ),
        }
        for pile in stockpile_levels(site_id, start=start, end=end)
    ]
    return formulas.Aggregates(
        hours=(end - start).total_seconds() / 3600.0,
        **ledger.figures(parts),
        crushers=crusher_rows(site_id, parts["crushers"]),
        stockpiles=stockpiles,
    )
