"""Mining KPIs from aggregates: PURE formulas, no Django (docs/kpis.md defines each one).

analytics.kpis.selectors computes the aggregates in SQL over the reading history and the event log
(seconds each truck and crusher spent in each status, tonnes per dump, payloads per load, fuel burned); the
functions here combine them into the figures a control room reads. Plain numbers in, plain dicts out, so
every formula is tested on hand-computed values without a database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

#: Truck statuses that make up a haul cycle, and the name of each part of the cycle.
CYCLE_PARTS = {
    "queued_at_loader": "queue_at_loader_min",
    "loading": "load_min",
    "hauling": "haul_min",
    "queued_at_dump": "queue_at_dump_min",
    "dumping": "dump_min",
    "returning": "return_min",
}
#: Out of service: planned (maintenance) or not (broken down). Physical availability excludes both.
DOWN_STATUSES = ("maintenance", "broken_down")
#: Available but not working: no assignment from dispatch (standby).
STANDBY_STATUSES = ("waiting",)
#: The 10/10/20 payload policy: mean payload at most rated, at most 10 % of loads above 110 % of rated,
#: none above 120 %.
PAYLOAD_OVER_LIMIT_SHARE = 0.10
#: 12-hour shifts start at these local hours.
SHIFT_START_HOURS = (6, 18)


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero (no data is not zero performance)."""
    return numerator / denominator if denominator else None


def pct(numerator: float, denominator: float) -> float | None:
    value = ratio(numerator, denominator)
    return None if value is None else 100.0 * value


def minutes(seconds: float, count: float) -> float | None:
    value = ratio(seconds, count)
    return None if value is None else value / 60.0


# --- Trucks


def truck_time(state_s: Mapping[str, float]) -> dict[str, float | None]:
    """Physical availability = (total - down) / total; utilisation = (available - standby) / available."""
    total_s = sum(state_s.values())
    down_s = sum(state_s.get(status, 0.0) for status in DOWN_STATUSES)
    available_s = total_s - down_s
    operating_s = available_s - sum(state_s.get(status, 0.0) for status in STANDBY_STATUSES)
    return {
        "truck_hours": total_s / 3600.0,
        "physical_availability_pct": pct(available_s, total_s),
        "utilisation_pct": pct(operating_s, available_s),
    }


def cycle_breakdown(state_s: Mapping[str, float], cycles: int) -> dict[str, float | int | None]:
    """Mean minutes per cycle in each part of the haul cycle; the cycle time is their sum.

    A cycle ends with a dump, so `cycles` is the number of dumps; time in each status is spread over them.
    """
    parts = {name: minutes(state_s.get(status, 0.0), cycles) for status, name in CYCLE_PARTS.items()}
    total = None if cycles == 0 else sum(value or 0.0 for value in parts.values())
    return {"cycles": cycles, "cycle_min": total, **parts}


def match_factor(*, trucks: int, loaders: int, loader_cycle_min: float | None, truck_cycle_min: float | None):
    """(trucks x loader cycle) / (loaders x truck cycle): 1 is balanced, below 1 loaders wait for trucks,
    above 1 trucks queue at loaders. The loader cycle is the time to load one truck."""
    if not loaders or not truck_cycle_min or loader_cycle_min is None:
        return None
    return (trucks * loader_cycle_min) / (loaders * truck_cycle_min)


def payload_compliance(*, loads: int, mean_ratio: float | None, over_110: int, over_120: int) -> dict:
    """The 10/10/20 policy on loads: mean ≤ rated, ≤ 10 % of loads > 110 % of rated, none > 120 %."""
    over_110_pct, over_120_pct = pct(over_110, loads), pct(over_120, loads)
    compliant = None
    if loads:
        compliant = (
            (mean_ratio or 0.0) <= 1.0 and over_110 <= PAYLOAD_OVER_LIMIT_SHARE * loads and not over_120
        )
    return {
        "loads": loads,
        "mean_payload_pct": None if mean_ratio is None else 100.0 * mean_ratio,
        "over_110_pct": over_110_pct,
        "over_120_pct": over_120_pct,
        "compliant": compliant,
    }


# --- Crushers and stockpiles


def oee(availability: float | None, performance: float | None, quality: float | None = 1.0) -> float | None:
    """Overall equipment effectiveness = availability x performance x quality (fractions)."""
    if availability is None or performance is None or quality is None:
        return None
    return availability * performance * quality


def crusher(
    *, total_s: float, running_s: float, maintenance_s: float, tonnes_t: float, rated_tph: float
) -> dict:
    """Throughput, utilisation and OEE of one crusher over a window.

    Availability = running / (total - planned maintenance); performance = tonnes / (rated x running hours);
    quality = 1 (the history has no off-spec measure). Utilisation = running / total.
    """
    availability = ratio(running_s, total_s - maintenance_s)
    performance = ratio(tonnes_t, rated_tph * running_s / 3600.0)
    value = oee(availability, performance)
    return {
        "tonnes_t": tonnes_t,
        "throughput_tph": ratio(tonnes_t, total_s / 3600.0),
        "utilisation_pct": pct(running_s, total_s),
        "availability_pct": None if availability is None else 100.0 * availability,
        "performance_pct": None if performance is None else 100.0 * performance,
        "quality_pct": 100.0,
        "oee_pct": None if value is None else 100.0 * value,
    }


def hours_of_cover(level_t: float, reclaim_tph: float | None) -> float | None:
    """How long the pile feeds the plant at the reclaim rate; None when nothing is reclaimed."""
    return ratio(level_t, reclaim_tph or 0.0)


# --- Everything together


@dataclass
class Aggregates:
    """What the SQL returns for one site and window (see analytics.kpis.selectors.kpi_aggregates)."""

    hours: float
    truck_state_s: dict[str, float] = field(default_factory=dict)
    queue_at_dump_s: dict[str, float] = field(default_factory=dict)  # "crusher"/"dump" -> seconds
    fuel_burned_l: float = 0.0
    events: dict[str, float] = field(default_factory=dict)
    crushers: list[dict] = field(default_factory=list)
    stockpiles: list[dict] = field(default_factory=list)


def mine_kpis(agg: Aggregates) -> dict:
    """Every KPI of docs/kpis.md from the aggregates of one site and window."""
    events = agg.events
    ore_t, waste_t = events.get("ore_t", 0.0), events.get("waste_t", 0.0)
    moved_t = ore_t + waste_t
    loads, dumps = int(events.get("loads", 0)), int(events.get("dumps", 0))
    cycle = cycle_breakdown(agg.truck_state_s, dumps)
    load_min = minutes(agg.truck_state_s.get("loading", 0.0), loads)
    crushers = [
        {
            "id": row["id"],
            "name": row["name"],
            "rated_capacity_tph": row["rated_tph"],
            **crusher(**_crusher_args(row)),
        }
        for row in agg.crushers
    ]
    crusher_total = crusher(
        total_s=sum(row["total_s"] for row in agg.crushers),
        running_s=sum(row["running_s"] for row in agg.crushers),
        maintenance_s=sum(row["maintenance_s"] for row in agg.crushers),
        tonnes_t=sum(row["tonnes_t"] for row in agg.crushers),
        rated_tph=_time_weighted_rating(agg.crushers),
    )
    crusher_total["throughput_tph"] = ratio(crusher_total["tonnes_t"], agg.hours)  # the plant, not per unit
    piles = [
        {
            "id": row["id"],
            "name": row["name"],
            "level_t": row["level_t"],
            "capacity_t": row["capacity_t"],
            "utilisation_pct": pct(row["level_t"], row["capacity_t"]),
            "mean_reclaim_tph": row["mean_reclaim_tph"],
            "hours_of_cover": hours_of_cover(row["level_t"], row["mean_reclaim_tph"]),
        }
        for row in agg.stockpiles
    ]
    level_t = sum(row["level_t"] for row in agg.stockpiles)
    reclaim_tph = sum(row["mean_reclaim_tph"] or 0.0 for row in agg.stockpiles)
    return {
        "tonnes": {
            "ore_t": ore_t,
            "waste_t": waste_t,
            "total_t": moved_t,
            "to_crushers_t": events.get("to_crushers_t", 0.0),
            "to_waste_dumps_t": events.get("to_dumps_t", 0.0),
            "loads": loads,
            "dumps": dumps,
        },
        "production_rate_tph": ratio(moved_t, agg.hours),
        "ore_rate_tph": ratio(ore_t, agg.hours),
        "truck_cycle": cycle,
        "queue_time": {
            "at_loaders_min": minutes(agg.truck_state_s.get("queued_at_loader", 0.0), loads),
            "at_crushers_min": minutes(
                agg.queue_at_dump_s.get("crusher", 0.0), events.get("dumps_to_crushers", 0)
            ),
            "at_waste_dumps_min": minutes(
                agg.queue_at_dump_s.get("dump", 0.0), events.get("dumps_to_dumps", 0)
            ),
        },
        "trucks": {"trucks": int(events.get("trucks", 0)), **truck_time(agg.truck_state_s)},
        "match_factor": {
            "value": match_factor(
                trucks=int(events.get("trucks", 0)),
                loaders=int(events.get("loaders", 0)),
                loader_cycle_min=load_min,
                truck_cycle_min=cycle["cycle_min"],
            ),
            "trucks": int(events.get("trucks", 0)),
            "loaders": int(events.get("loaders", 0)),
            "loader_cycle_min": load_min,
            "truck_cycle_min": cycle["cycle_min"],
        },
        "payload_compliance": payload_compliance(
            loads=loads,
            mean_ratio=events.get("mean_payload_ratio"),
            over_110=int(events.get("over_110", 0)),
            over_120=int(events.get("over_120", 0)),
        ),
        "fuel": {"burned_l": agg.fuel_burned_l, "l_per_t": ratio(agg.fuel_burned_l, moved_t)},
        "crushers": {**crusher_total, "items": crushers},
        "stockpiles": {
            "level_t": level_t,
            "capacity_t": sum(row["capacity_t"] for row in agg.stockpiles),
            "hours_of_cover": hours_of_cover(level_t, reclaim_tph),
            "items": piles,
        },
    }


def _crusher_args(row: Mapping) -> dict:
    keys = ("total_s", "running_s", "maintenance_s", "tonnes_t")
    return {**{key: row[key] for key in keys}, "rated_tph": row["rated_tph"]}


def _time_weighted_rating(rows: list[Mapping]) -> float:
    """Rated capacity of the plant as a whole, weighted by each crusher's running time (for performance)."""
    running = sum(row["running_s"] for row in rows)
    return sum(row["rated_tph"] * row["running_s"] for row in rows) / running if running else 0.0


# --- Windows


def shift_start(
    now: dt.datetime, timezone: str, start_hours: tuple[int, ...] = SHIFT_START_HOURS
) -> dt.datetime:
    """Start of the shift `now` falls in, shifts starting at `start_hours` local time of the site."""
    local = now.astimezone(ZoneInfo(timezone))
    starts = [
        (local + dt.timedelta(days=offset)).replace(hour=hour, minute=0, second=0, microsecond=0)
        for offset in (-1, 0)
        for hour in start_hours
    ]
    return max(start for start in starts if start <= local).astimezone(dt.UTC)


#: Named windows ending now.
WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}


def window(name: str, now: dt.datetime, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a named window (`shift`, `24h`, `7d`) ending at `now`."""
    if name == "shift":
        return shift_start(now, timezone), now
    return now - WINDOWS[name], now
