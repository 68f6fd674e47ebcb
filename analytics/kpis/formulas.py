"""Mining KPIs from aggregates: PURE formulas, no Django (docs/kpis.md defines each one).

analytics.kpis.selectors computes the aggregates in SQL over the reading history and the event log
(seconds each truck and crusher spent in each status, tonnes per dump, payloads per load, fuel burned); the
functions here combine them into the figures a control room reads. Plain numbers in, plain dicts out, so
every formula is tested on hand-computed values without a database.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleet.sim.schema import CrusherStatus, TruckStatus

#: Truck statuses that make up a haul cycle, and the name of each part of the cycle.
CYCLE_PARTS = {
    "queued_at_loader": "queue_at_loader_min",
    "loading": "load_min",
    "hauling": "haul_min",
    "queued_at_dump": "queue_at_dump_min",
    "dumping": "dump_min",
    "returning": "return_min",
}
#: The 10/10/20 payload policy: mean payload at most rated, at most 10 % of loads above 110 % of rated,
#: none above 120 %.
PAYLOAD_OVER_LIMIT_SHARE = 0.10
#: 12-hour shifts start at these local hours.
SHIFT_START_HOURS = (6, 18)
#: Below this share of the window holding data, the response says so: its figures describe the covered
#: hours only (a fresh start's ten minutes are not a day).
LOW_COVERAGE_SHARE = 0.8


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator / denominator, or None when the denominator is zero (no data is not zero performance)."""
    return numerator / denominator if denominator else None


def pct(numerator: float, denominator: float) -> float | None:
    value = ratio(numerator, denominator)
    return None if value is None else 100.0 * value


def minutes(seconds: float, count: float) -> float | None:
    value = ratio(seconds, count)
    return None if value is None else value / 60.0


# --- The time usage model (GMG, "A Standardized Time Classification Framework for Mobile Equipment in
# Surface Mining", 2020): calendar time -> downtime (planned, unplanned) or available time; available time
# -> standby or utilised time; utilised time -> operating delays or operating time.


class TimeCategory(enum.StrEnum):
    """The lowest buckets of the time usage model that the simulator's statuses fall into."""

    PLANNED_DOWNTIME = "planned_downtime"
    UNPLANNED_DOWNTIME = "unplanned_downtime"
    STANDBY = "standby"
    OPERATING_DELAY = "operating_delay"
    OPERATING = "operating"


#: Each truck status in its bucket (docs/kpis.md says why for each).
TRUCK_TIME_CATEGORIES: dict[str, TimeCategory] = {
    TruckStatus.RETURNING: TimeCategory.OPERATING,  # includes the drive to the fuel bay
    TruckStatus.LOADING: TimeCategory.OPERATING,
    TruckStatus.HAULING: TimeCategory.OPERATING,
    TruckStatus.DUMPING: TimeCategory.OPERATING,
    TruckStatus.QUEUED_AT_LOADER: TimeCategory.OPERATING_DELAY,
    TruckStatus.QUEUED_AT_DUMP: TimeCategory.OPERATING_DELAY,
    TruckStatus.REFUELLING: TimeCategory.OPERATING_DELAY,  # crewed, in service, caused by operating
    TruckStatus.WAITING: TimeCategory.STANDBY,  # available, no assignment from dispatch
    TruckStatus.MAINTENANCE: TimeCategory.PLANNED_DOWNTIME,
    TruckStatus.BROKEN_DOWN: TimeCategory.UNPLANNED_DOWNTIME,
}
#: Each crusher status in its bucket.
CRUSHER_TIME_CATEGORIES: dict[str, TimeCategory] = {
    CrusherStatus.RUNNING: TimeCategory.OPERATING,
    CrusherStatus.BLOCKED: TimeCategory.OPERATING_DELAY,  # chamber blockage or full product pile
    CrusherStatus.IDLE: TimeCategory.STANDBY,  # starved: available, nothing in the feed bin
    CrusherStatus.MAINTENANCE: TimeCategory.PLANNED_DOWNTIME,
    CrusherStatus.BROKEN_DOWN: TimeCategory.UNPLANNED_DOWNTIME,
}
TIME_CATEGORIES = {"truck": TRUCK_TIME_CATEGORIES, "crusher": CRUSHER_TIME_CATEGORIES}


@dataclass(frozen=True)
class TimeUsage:
    """Seconds in each bucket of the time usage model; calendar time is the time that holds data."""

    planned_downtime_s: float = 0.0
    unplanned_downtime_s: float = 0.0
    standby_s: float = 0.0
    operating_delay_s: float = 0.0
    operating_s: float = 0.0

    @property
    def downtime_s(self) -> float:
        return self.planned_downtime_s + self.unplanned_downtime_s

    @property
    def utilised_s(self) -> float:
        return self.operating_delay_s + self.operating_s

    @property
    def available_s(self) -> float:
        return self.standby_s + self.utilised_s

    @property
    def calendar_s(self) -> float:
        return self.downtime_s + self.available_s

    def hours(self) -> dict[str, float]:
        """Every bucket, the sums included, in hours (the API's `time_usage_h`)."""
        names = ("calendar", "downtime", "planned_downtime", "unplanned_downtime", "available", "standby")
        names += ("utilised", "operating_delay", "operating")
        return {name: getattr(self, f"{name}_s") / 3600.0 for name in names}


def time_usage(state_s: Mapping[str, float], kind: str) -> TimeUsage:
    """Bucket seconds per status of one kind of equipment (`truck`, `crusher`) into the time usage model.

    A status without a bucket is an error, not time that silently disappears from every KPI.
    """
    try:
        categories = TIME_CATEGORIES[kind]
    except KeyError:
        raise ValueError(f"time usage: no time categories for equipment kind {kind!r}") from None
    buckets = dict.fromkeys(TimeCategory, 0.0)
    for status, seconds in state_s.items():
        if status not in categories:
            raise ValueError(
                f"time usage: {kind} status {status!r} has no time category (known: "
                f"{', '.join(sorted(categories))})"
            )
        if seconds < 0:
            raise ValueError(f"time usage: {kind} status {status!r} has negative time ({seconds} s)")
        buckets[categories[status]] += seconds
    return TimeUsage(**{f"{category}_s": seconds for category, seconds in buckets.items()})


def time_kpis(usage: TimeUsage) -> dict[str, float | None]:
    """Physical availability = available / calendar (only downtime is lost); use of availability =
    utilised / available (standby is available, not used); effective utilisation = utilised / calendar
    = the product of the two; operating share = operating / utilised (what operating delays leave)."""
    return {
        "physical_availability_pct": pct(usage.available_s, usage.calendar_s),
        "use_of_availability_pct": pct(usage.utilised_s, usage.available_s),
        "effective_utilisation_pct": pct(usage.utilised_s, usage.calendar_s),
        "operating_share_pct": pct(usage.operating_s, usage.utilised_s),
    }


def coverage(*, covered_s: float, units: int, window_s: float) -> float | None:
    """Share of the window that holds data: unit-seconds with a status over units x window seconds.

    Units are those that reported in the window; None when none did (there is nothing to cover).
    """
    if window_s <= 0:
        raise ValueError(f"coverage: the window must be longer than zero seconds, not {window_s}")
    return ratio(covered_s, units * window_s)


# --- Trucks


def truck_time(state_s: Mapping[str, float], *, units: int, window_s: float) -> dict:
    """The fleet's time usage model: buckets in hours, physical availability, use of availability
    (`utilisation_pct` too), effective utilisation and coverage of the window by `units` trucks."""
    usage = time_usage(state_s, "truck")
    return {
        "truck_hours": usage.calendar_s / 3600.0,
        **time_kpis(usage),
        "utilisation_pct": time_kpis(usage)["use_of_availability_pct"],
        "coverage_pct": _pct_or_none(coverage(covered_s=usage.calendar_s, units=units, window_s=window_s)),
        "time_usage_h": usage.hours(),
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


#: What crusher OEE counts as lost time in its availability factor (planned downtime is not planned
#: production time, so it is left out), and what its other two factors lose.
OEE_LOSSES = {
    "availability": (
        TimeCategory.UNPLANNED_DOWNTIME,
        TimeCategory.OPERATING_DELAY,
        TimeCategory.STANDBY,
    ),
    "performance": ("rate below rated capacity while operating",),
    "quality": (),  # no off-spec measure in the history yet
}


def crusher(
    *, state_s: Mapping[str, float], tonnes_t: float, rated_tph: float, window_s: float, units: int = 1
) -> dict:
    """One crusher, or the plant of `units` crushers, over a window: the time usage model, throughput per
    covered hour (of the plant: the sum of the crushers' rates), OEE.

    OEE keeps its own split: availability = operating / (calendar - planned downtime), so starved and
    blocked time are losses to OEE though not to physical availability; performance = tonnes / (rated x
    operating hours); quality = 1.
    """
    usage = time_usage(state_s, "crusher")
    kpis = time_kpis(usage)
    availability = ratio(usage.operating_s, usage.calendar_s - usage.planned_downtime_s)
    performance = ratio(tonnes_t, rated_tph * usage.operating_s / 3600.0)
    value = oee(availability, performance)
    return {
        "tonnes_t": tonnes_t,
        "throughput_tph": ratio(tonnes_t * units, usage.calendar_s / 3600.0),
        **kpis,
        "utilisation_pct": kpis["use_of_availability_pct"],
        "availability_pct": kpis["physical_availability_pct"],
        "oee_availability_pct": _pct_or_none(availability),
        "performance_pct": _pct_or_none(performance),
        "quality_pct": 100.0,
        "oee_pct": _pct_or_none(value),
        "coverage_pct": _pct_or_none(coverage(covered_s=usage.calendar_s, units=units, window_s=window_s)),
        "time_usage_h": usage.hours(),
    }


def _pct_or_none(share: float | None) -> float | None:
    return None if share is None else 100.0 * share


def hours_of_cover(level_t: float, reclaim_tph: float | None) -> float | None:
    """How long the pile feeds the plant at the reclaim rate; None when nothing is reclaimed."""
    return ratio(level_t, reclaim_tph or 0.0)


# --- Everything together


@dataclass
class Aggregates:
    """What the SQL returns for one site and window (see analytics.kpis.selectors.kpi_aggregates).

    Crusher rows carry `id`, `name`, `rated_tph`, `tonnes_t` and `state_s` (seconds per status).
    """

    hours: float
    truck_state_s: dict[str, float] = field(default_factory=dict)
    trucks_reporting: int = 0
    queue_at_dump_s: dict[str, float] = field(default_factory=dict)  # "crusher"/"dump" -> seconds
    fuel_burned_l: float = 0.0
    events: dict[str, float] = field(default_factory=dict)
    crushers: list[dict] = field(default_factory=list)
    stockpiles: list[dict] = field(default_factory=list)


def window_coverage(agg: Aggregates, trucks: Mapping, crushers: Mapping) -> dict:
    """How much of the window holds data, and a note when too little does to read the figures as the
    window's: rates are then over the covered hours, not extrapolated to the whole window."""
    shares = [share for share in (trucks["coverage_pct"], crushers["coverage_pct"]) if share is not None]
    covered_pct = min(shares) if shares else None
    covered_h = ratio(trucks["truck_hours"], agg.trucks_reporting)
    low = covered_pct is None or covered_pct < 100.0 * LOW_COVERAGE_SHARE
    note = None
    if covered_pct is None:
        note = f"no readings in the {agg.hours:g} h window"
    elif low:
        note = (
            f"only {covered_pct:.1f} % of the {agg.hours:g} h window holds data: rates are per covered hour, "
            "totals are for the covered hours only"
        )
    return {
        "window_hours": agg.hours,
        "covered_hours": covered_h,
        "pct": covered_pct,
        "trucks_pct": trucks["coverage_pct"],
        "crushers_pct": crushers["coverage_pct"],
        "low": low,
        "note": note,
    }


def mine_kpis(agg: Aggregates) -> dict:
    """Every KPI of docs/kpis.md from the aggregates of one site and window."""
    events = agg.events
    ore_t, waste_t = events.get("ore_t", 0.0), events.get("waste_t", 0.0)
    moved_t = ore_t + waste_t
    loads, dumps = int(events.get("loads", 0)), int(events.get("dumps", 0))
    cycle = cycle_breakdown(agg.truck_state_s, dumps)
    load_min = minutes(agg.truck_state_s.get("loading", 0.0), loads)
    window_s = agg.hours * 3600.0
    trucks = truck_time(agg.truck_state_s, units=agg.trucks_reporting, window_s=window_s)
    crushers = [
        {
            "id": row["id"],
            "name": row["name"],
            "rated_capacity_tph": row["rated_tph"],
            **crusher(
                state_s=row["state_s"],
                tonnes_t=row["tonnes_t"],
                rated_tph=row["rated_tph"],
                window_s=window_s,
            ),
        }
        for row in agg.crushers
    ]
    plant_state_s: dict[str, float] = {}
    for row in agg.crushers:
        for status, seconds in row["state_s"].items():
            plant_state_s[status] = plant_state_s.get(status, 0.0) + seconds
    crusher_total = crusher(
        state_s=plant_state_s,
        tonnes_t=sum(row["tonnes_t"] for row in agg.crushers),
        rated_tph=_time_weighted_rating(agg.crushers),
        window_s=window_s,
        units=len(agg.crushers),
    )
    covered = window_coverage(agg, trucks, crusher_total)
    fleet_h = covered["covered_hours"] or 0.0
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
        "production_rate_tph": ratio(moved_t, fleet_h),
        "ore_rate_tph": ratio(ore_t, fleet_h),
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
        "trucks": {"trucks": int(events.get("trucks", 0)), **trucks},
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
        "crushers": {**crusher_total, "oee_losses": _oee_losses(), "items": crushers},
        "stockpiles": {
            "level_t": level_t,
            "capacity_t": sum(row["capacity_t"] for row in agg.stockpiles),
            "hours_of_cover": hours_of_cover(level_t, reclaim_tph),
            "items": piles,
        },
        "coverage": covered,
    }


def _oee_losses() -> dict[str, list[str]]:
    return {factor: [str(loss) for loss in losses] for factor, losses in OEE_LOSSES.items()}


def _time_weighted_rating(rows: list[Mapping]) -> float:
    """Rated capacity of the plant as a whole, weighted by each crusher's operating time (for performance)."""
    operating = [(row["rated_tph"], time_usage(row["state_s"], "crusher").operating_s) for row in rows]
    running = sum(seconds for _, seconds in operating)
    return sum(rated * seconds for rated, seconds in operating) / running if running else 0.0


# --- Windows


def shift_start(
    now: dt.datetime, timezone: str, start_hours: tuple[int, ...] = SHIFT_START_HOURS
) -> dt.datetime:
    """Start of the shift `now` falls in, shifts starting at `start_hours` local time of the site: a mine's
    shifts change on its own clock, not on UTC's."""
    local = now.astimezone(site_zone(timezone))
    starts = [
        (local + dt.timedelta(days=offset)).replace(hour=hour, minute=0, second=0, microsecond=0)
        for offset in (-1, 0)
        for hour in start_hours
    ]
    return max(start for start in starts if start <= local).astimezone(dt.UTC)


def site_zone(name: str) -> ZoneInfo:
    """The site's IANA time zone, or an error that names the bad value."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"site time zone {name!r} is not an IANA time zone (e.g. Australia/Perth)") from None


#: Named windows ending now.
WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}


def window(name: str, now: dt.datetime, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a named window (`shift`, `24h`, `7d`) ending at `now`."""
    if name == "shift":
        return shift_start(now, timezone), now
    return now - WINDOWS[name], now
