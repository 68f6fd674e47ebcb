"""The SQL aggregates behind the KPIs (docs/kpis.md), over the reading history and the event log. Every
query bounds `ts` with literal values so PostgreSQL prunes the daily partitions at plan time."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from analytics.kpis import formulas
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
) -> tuple[dict, dict, float, int]:
    """Truck-seconds in each status, queue seconds at tipping points by destination kind (crusher, dump),
    litres of fuel burned (the sum of each truck's fuel drops between readings; refuels are rises) and the
    number of trucks that reported in the window (for coverage).

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
               (SELECT count(DISTINCT equipment_id) FROM r) AS trucks
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
    trucks = rows[0]["trucks"] if rows else 0
    return states, queues, sum(row["burned_l"] for row in rows), trucks


def haul_events(site_id: int, *, start: dt.datetime, end: dt.datetime) -> dict[str, float]:
    """Tonnes dumped by material and destination, loads, payload ratios and who loaded, from the event log."""
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
            avg({share}) FILTER (WHERE {loaded}) AS mean_payload_ratio,
            count(*) FILTER (WHERE {loaded} AND {share} > 1.1) AS over_110,
            count(*) FILTER (WHERE {loaded} AND {share} > 1.2) AS over_120,
            count(DISTINCT unit_id) FILTER (WHERE {loaded}) AS trucks,
            count(DISTINCT data->>'loader_id') FILTER (WHERE {loaded}) AS loaders
        FROM fleet_simevent
        WHERE site_id = %(site)s AND kind IN ('dumped', 'loaded') AND ts >= %(start)s AND ts < %(end)s
          AND unit_kind = 'truck'
        """,
        {"site": site_id, "start": start, "end": end},
    )
    return {key: (float(value) if value is not None else None) for key, value in row.items()}


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


def stockpile_levels(site_id: int, *, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Per stockpile of the site: its level at the last reading of the window and its mean reclaim rate."""
    return _query(
        """
        SELECT DISTINCT ON (r.equipment_id) s.id, s.name, s.capacity_t, r.level_t,
               avg(r.discharge_rate_tph) OVER (PARTITION BY r.equipment_id) AS mean_reclaim_tph
        FROM stockpiles_stockpilereading r JOIN stockpiles_stockpile s ON s.id = r.equipment_id
        WHERE s.site_id = %(site)s AND r.ts >= %(start)s AND r.ts < %(end)s
        ORDER BY r.equipment_id, r.ts DESC
        """,
        {"site": site_id, "start": start, "end": end},
    )


def kpi_aggregates(site_id: int, *, start: dt.datetime, end: dt.datetime) -> formulas.Aggregates:
    """Everything analytics.kpis.formulas.mine_kpis needs for one site and window: four SQL statements."""
    states, queues, burned_l, trucks = truck_state_seconds(site_id, start=start, end=end)
    return formulas.Aggregates(
        hours=(end - start).total_seconds() / 3600.0,
        truck_state_s=states,
        trucks_reporting=trucks,
        queue_at_dump_s=queues,
        fuel_burned_l=burned_l,
        events=haul_events(site_id, start=start, end=end),
        crushers=crusher_seconds(site_id, start=start, end=end),
        stockpiles=stockpile_levels(site_id, start=start, end=end),
    )
