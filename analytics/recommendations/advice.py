"""Recommendations for the control room, each with its priority, expected impact and reasoning in words.

* maintenance: a unit whose failure risk is actionable (analytics.ml.risk: at most as many units as the
  calibrated probabilities expect to fail, riskiest first, each at least ACTIONABLE_MIN_P likely), serviced
  at the least costly time (now when trucks are queuing anyway or its remaining life is short, else at the
  next shift change);
* dispatch: switch strategy when a two-hour look-ahead of the engine, run from the current state with the
  same random draws for every strategy, moves clearly more tonnes than the current one;
* stockpile: raise or lower the reclaim rate (or divert feed) before a pile fills up or runs empty.

The rules below are plain functions on plain data (`*_advice`); `refresh` gathers the data of a site,
raises what applies through services.upsert_recommendation and expires what no longer applies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.kpis import formulas
from analytics.ml.history import History
from analytics.ml.risk import actionable
from analytics.recommendations import rules, services
from analytics.recommendations.models import DispatchLookahead, RecommendationPriority
from analytics.scoring.models import Prediction
from fleet.choices import DispatchStrategy
from fleet.dispatch import get_dispatcher
from fleet.models import Site
from fleet.sim import SiteState, step
from stockpiles.models import Stockpile

HIGH, MEDIUM, LOW = RecommendationPriority.HIGH, RecommendationPriority.MEDIUM, RecommendationPriority.LOW
#: Without a breakdown→repair pair in the event log, assume a breakdown stops a unit this long.
DEFAULT_REPAIR_H = 4.0
#: Service a unit at once when its estimated remaining life is shorter than this.
URGENT_RUL_H = 8.0
#: Trucks queuing at loaders this share of their time are more than the loaders need: one less costs little.
OVERTRUCKED_QUEUE_SHARE = 0.15
#: A dispatch strategy must beat the current one by this share and this many tonnes over the look-ahead.
DISPATCH_MIN_GAIN, DISPATCH_MIN_GAIN_T = 0.03, 150.0
DISPATCH_LOOKAHEAD_H = 2.0
#: Simulated time between dispatch look-aheads, whatever the tick interval (each costs seconds of CPU).
LOOKAHEAD_EVERY = dt.timedelta(minutes=15)
#: Warn about a stockpile this many hours before it fills or empties.
STOCKPILE_HORIZON_H = 4.0
STOCKPILE_RATE_WINDOW = dt.timedelta(minutes=30)
ENGINE_KINDS = ("maintenance", "dispatch", "stockpile")  # kinds this module raises (and expires)


@dataclass
class Advice:
    kind: str
    subject: str
    priority: str
    title: str
    reasoning: str
    expected_impact: str
    impact_t: float | None = None
    impact_h: float | None = None
    data: dict = field(default_factory=dict)


# --- Maintenance


def maintenance_advice(
    prediction: Prediction,
    *,
    repair_h: float,
    tonnes_per_h: float,
    queue_share: float,
    next_shift_at: dt.datetime,
    now: dt.datetime,
    is_actionable: bool,
) -> Advice | None:
    """Service a unit whose risk is actionable (the site's `actionable` mask, from all its units' risks);
    when: now if its life is short or it would only queue, else at shift change.

    Expected impact: the unplanned stoppage a planned service avoids, p_fail x typical repair time, and the
    tonnes the unit moves in that time."""
    p, rul_h = prediction.failure_probability, prediction.rul_h or 0.0
    if not is_actionable:
        return None
    hours_to_shift = (next_shift_at - now).total_seconds() / 3600.0
    if rul_h < URGENT_RUL_H or hours_to_shift > rul_h - 2.0:
        when = "now"
        why_when = f"its estimated remaining life ({rul_h:.0f} h) does not reach the shift change"
    elif prediction.equipment_kind == "truck" and queue_share >= OVERTRUCKED_QUEUE_SHARE:
        when = "now"
        why_when = (
            f"trucks spend {queue_share:.0%} of their time queuing at loaders, so one truck less costs "
            "little production"
        )
    else:
        when = f"at the shift change ({next_shift_at:%H:%M} UTC)"
        why_when = "the crew change stops production anyway, and the unit should last until then"
    avoided_h = p * repair_h
    factors = ", ".join(name.replace("_", " ") for name, _ in prediction.factors[:3]) or "hours since repair"
    priority = HIGH if p >= 0.7 or rul_h < URGENT_RUL_H else MEDIUM if prediction.warning else LOW
    return Advice(
        kind="maintenance",
        subject=f"{prediction.equipment_kind}:{prediction.equipment_id}",
        priority=priority,
        title=f"Service {prediction.equipment_name} {when}",
        reasoning=(
            f"{prediction.equipment_name} has a {p:.0%} chance of breaking down within "
            f"{prediction.horizon_h:.0f} h (predicted health {prediction.predicted_health:.0f}/100, driven "
            f"by {factors}). "
            f"Service it {when}: {why_when}. A breakdown stops a {prediction.equipment_kind} for about "
            f"{repair_h:.1f} h on this site."
        ),
        expected_impact=(
            f"≈ {avoided_h:.1f} h of unplanned downtime avoided (≈ {avoided_h * tonnes_per_h:,.0f} t)"
        ),
        impact_h=round(avoided_h, 2),
        impact_t=round(avoided_h * tonnes_per_h, 0),
        data={"p_fail": p, "rul_h": rul_h, "when": when, "repair_h": repair_h, "tonnes_per_h": tonnes_per_h},
    )


def repair_hours(events: pd.DataFrame) -> dict[str, float]:
    """Mean hours from breakdown to repair per equipment kind in the event log."""
    marks = events.loc[events["kind"].isin(["breakdown", "repaired"]), ["unit_kind", "unit_id", "ts", "kind"]]
    marks = marks.sort_values("ts", kind="stable")
    marks["next_kind"] = marks.groupby(["unit_kind", "unit_id"])["kind"].shift(-1)
    marks["next_ts"] = marks.groupby(["unit_kind", "unit_id"])["ts"].shift(-1)
    pairs = marks.loc[(marks["kind"] == "breakdown") & (marks["next_kind"] == "repaired")]
    hours = (pairs["next_ts"] - pairs["ts"]).dt.total_seconds() / 3600.0
    return hours.groupby(pairs["unit_kind"]).mean().to_dict()


def tonnes_per_unit_hour(events: pd.DataFrame, history_h: float) -> dict[str, float]:
    """Tonnes each truck, loader and crusher moves per hour on average, from loads and tips in the log."""
    loaded = events.loc[events["kind"] == "loaded"]
    dumped = events.loc[events["kind"] == "dumped"]
    payload = loaded["data"].map(lambda d: float(d.get("payload_t", 0.0)))
    to_crusher = dumped["data"].map(lambda d: d.get("destination_kind") == "crusher")
    crushed = dumped.loc[to_crusher, "data"].map(lambda d: float(d.get("payload_t", 0.0)))
    hours = max(history_h, 1e-9)
    loaders = loaded["data"].map(lambda d: d.get("loader_id")).nunique()
    crushers = dumped.loc[to_crusher, "data"].map(lambda d: d.get("destination_id")).nunique()
    return {
        "truck": float(payload.sum()) / hours / max(loaded["unit_id"].nunique(), 1),
        "loader": float(payload.sum()) / hours / max(loaders, 1),
        "crusher": float(crushed.sum()) / hours / max(crushers, 1),
    }


def service_due_advice(due: rules.ServiceDue, *, repair_h: float, tonnes_per_h: float) -> Advice:
    """Without a failure model: service a unit past its interval, by the fleet's own wear-out law."""
    hours = f", {due.engine_hours:,.0f} engine hours" if due.engine_hours is not None else ""
    avoided_h = due.p_fail * repair_h
    priority = HIGH if due.p_fail >= 0.5 else MEDIUM if due.p_fail >= 0.3 else LOW
    return Advice(
        kind="maintenance",
        subject=f"{due.kind}:{due.unit_id}",
        priority=priority,
        title=f"Service {due.name}: {due.wear_h:.0f} wear-hours since its last service",
        reasoning=(
            f"{due.name} has run {due.wear_h:.0f} wear-hours since its last service (interval "
            f"{due.interval_h:.0f} h{hours}; health {due.health:.0f}/100). At that wear the fleet's wear-out "
            f"record gives it a {due.p_fail:.0%} chance of a fault within {rules.SERVICE_HORIZON_H:.0f} h. "
            f"A breakdown stops a {due.kind} for about {repair_h:.1f} h on this site."
        ),
        expected_impact=(
            f"≈ {avoided_h:.1f} h of unplanned downtime avoided (≈ {avoided_h * tonnes_per_h:,.0f} t)"
        ),
        impact_h=round(avoided_h, 2),
        impact_t=round(avoided_h * tonnes_per_h, 0),
        data={
            "source": "service_interval", "p_fail": due.p_fail, "wear_h": due.wear_h,
            "interval_h": due.interval_h, "health": due.health, "engine_hours": due.engine_hours,
            "factors": [["wear_h_since_service", due.wear_h], ["health", due.health]],
        },
    )  # fmt: skip


def starving_loader_advice(state: SiteState, loader, idle_s: float) -> Advice:
    """A loader without trucks: send it trucks from the longest queue elsewhere."""
    busiest = max(state.loaders, key=lambda other: len(other.queue))
    source = (
        f"{busiest.name} has {len(busiest.queue)} trucks queuing; send one of them to {loader.name}"
        if len(busiest.queue) >= 2 and busiest.id != loader.id
        else "no loader has trucks to spare; assign the next empty truck to it, or park it"
    )
    lost_t = loader.dig_rate_tph * idle_s / 3600.0
    return Advice(
        kind="dispatch",
        subject=f"loader:{loader.id}",
        priority=HIGH if idle_s >= 3 * rules.LOADER_STARVING_S else MEDIUM,
        title=f"Send trucks to {loader.name}: idle without trucks for {idle_s / 60:.0f} min",
        reasoning=(
            f"{loader.name} has had no truck to load for {idle_s / 60:.0f} min while it could dig "
            f"{loader.dig_rate_tph:,.0f} t/h. {source[0].upper()}{source[1:]}."
        ),
        expected_impact=f"+{loader.dig_rate_tph:,.0f} t/h of digging back (≈ {lost_t:,.0f} t lost so far)",
        impact_t=round(lost_t, 0),
        data={"loader_id": loader.id, "idle_s": idle_s, "queue_elsewhere": len(busiest.queue)},
    )


def backed_up_crusher_advice(state: SiteState, crusher) -> Advice:
    """A crusher blocked or with a long queue: divert ore to the crusher with the shortest queue."""
    others = [
        c for c in state.crushers if c.id != crusher.id and c.status not in ("maintenance", "broken_down")
    ]
    target = min(others, key=lambda c: len(c.queue), default=None)
    where = (
        f"divert ore trucks to {target.name} ({len(target.queue)} queuing)"
        if target is not None
        else "hold ore trucks at the loaders or tip to the ROM pad"
    )
    why = "is blocked" if crusher.status == "blocked" else f"has {len(crusher.queue)} trucks queuing"
    return Advice(
        kind="dispatch",
        subject=f"crusher:{crusher.id}",
        priority=HIGH if crusher.status == "blocked" else MEDIUM,
        title=f"{crusher.name} is backing up: {where}",
        reasoning=(
            f"{crusher.name} {why} (feed bin {crusher.feed_bin_t:,.0f} of "
            f"{crusher.feed_bin_capacity_t:,.0f} t); every truck in its queue stands idle. "
            f"{where[0].upper()}{where[1:]} until it clears."
        ),
        expected_impact=f"{len(crusher.queue)} trucks back to hauling",
        data={"crusher_id": crusher.id, "queue": len(crusher.queue), "status": str(crusher.status)},
    )


def stockpile_level_advice(state: SiteState, pile, pct: float, side: str) -> Advice:
    """A pile near its high or low threshold, from the engine's current level and rates."""
    feed_tph = sum(c.throughput_tph for c in state.crushers if c.stockpile_id == pile.id)
    if side == "high":
        title = f"{pile.name} is {pct:.0f} % full: raise its reclaim rate (or divert feed)"
        what = f"above the {rules.STOCKPILE_HIGH_PCT:.0f} % advice level; when full, its crusher blocks"
    else:
        title = f"{pile.name} is {pct:.0f} % full: lower its reclaim rate (or send it more feed)"
        what = (
            f"below the {rules.STOCKPILE_LOW_PCT:.0f} % advice level; when empty, the plant it feeds starves"
        )
    return Advice(
        kind="stockpile",
        subject=f"stockpile:{pile.id}",
        priority=MEDIUM if 5.0 < pct < 95.0 else HIGH,
        title=title,
        reasoning=(
            f"{pile.name} holds {pile.level_t:,.0f} of {pile.capacity_t:,.0f} t ({pct:.0f} %), {what}. "
            f"Feed {feed_tph:,.0f} t/h, reclaim {pile.reclaim_rate_tph:,.0f} t/h."
        ),
        expected_impact="level held away from the alarm limits",
        data={"level_t": pile.level_t, "capacity_t": pile.capacity_t, "utilisation_pct": pct, "side": side},
    )


def _last_loaded_s(events: pd.DataFrame) -> dict[int, float]:
    loaded = events.loc[events["kind"] == "loaded"]
    if loaded.empty:
        return {}
    loader = loaded["data"].map(lambda d: d.get("loader_id"))
    last = loaded["ts"].groupby(loader).max()
    return {int(k): v.timestamp() for k, v in last.items() if k is not None}


def record_start_s(history: History) -> float:
    """When the site's record starts: the window read, or its first reading if the site is younger (a loader
    of a site started an hour ago has not been idle for the day the window covers)."""
    firsts = [frame["ts"].min() for frame in history.readings.values() if not frame.empty]
    start = history.meta["start"]
    return max(start, min(firsts)).timestamp() if firsts else start.timestamp()


def state_advice(site: Site, state: SiteState, history: History) -> list[Advice]:
    """The advice read off the engine's state: dispatch (starving loaders, backed-up crushers) and stockpile
    levels. Maintenance by service interval is added by `refresh` only when no model scored the site."""
    last_loaded_s = _last_loaded_s(history.events)
    starving = rules.starving_loaders(state, last_loaded_s, since_s=record_start_s(history))
    advice = [starving_loader_advice(state, loader, idle_s) for loader, idle_s in starving]
    advice += [backed_up_crusher_advice(state, crusher) for crusher in rules.backed_up_crushers(state)]
    advice += [stockpile_level_advice(state, *found) for found in rules.stockpiles_near_limits(state)]
    return advice


# --- Stockpiles


def stockpile_advice(
    *, pile_id: int, name: str, level_t: float, capacity_t: float, fill_tph: float, reclaim_tph: float
) -> Advice | None:
    """Advice when, at the mean rates of the last half hour, the pile fills or empties within the horizon."""
    net_tph = fill_tph - reclaim_tph
    if abs(net_tph) < 1.0:
        return None
    if net_tph > 0:
        hours = max(capacity_t - level_t, 0.0) / net_tph
        if hours > STOCKPILE_HORIZON_H:
            return None
        title = f"Raise the reclaim rate of {name} to {fill_tph:,.0f} t/h (or divert feed)"
        what = (
            f"{name} is filling at {net_tph:,.0f} t/h net ({fill_tph:,.0f} t/h in, {reclaim_tph:,.0f} t/h "
            f"out) and will be full in {hours:.1f} h; then its crusher must stop feeding it."
        )
        lost_t = net_tph * (STOCKPILE_HORIZON_H - hours)
        impact = f"≈ {lost_t:,.0f} t of crusher output kept flowing over the next {STOCKPILE_HORIZON_H:.0f} h"
    else:
        hours = level_t / -net_tph
        if hours > STOCKPILE_HORIZON_H:
            return None
        title = f"Lower the reclaim rate of {name} to {fill_tph:,.0f} t/h (or divert more feed to it)"
        what = (
            f"{name} is emptying at {-net_tph:,.0f} t/h net ({fill_tph:,.0f} t/h in, {reclaim_tph:,.0f} t/h "
            f"out) and will be empty in {hours:.1f} h; then the plant it feeds starves."
        )
        lost_t = -net_tph * (STOCKPILE_HORIZON_H - hours)
        impact = f"≈ {STOCKPILE_HORIZON_H - hours:.1f} h of plant starvation avoided ({lost_t:,.0f} t)"
    priority = HIGH if hours < 1.0 else MEDIUM if hours < 2.0 else LOW
    return Advice(
        kind="stockpile",
        subject=f"stockpile:{pile_id}",
        priority=priority,
        title=title,
        reasoning=f"{what} Matching the reclaim rate to the feed holds the level where it is.",
        expected_impact=impact,
        impact_t=round(lost_t, 0),
        impact_h=round(STOCKPILE_HORIZON_H - hours, 2),
        data={"level_t": level_t, "capacity_t": capacity_t, "fill_tph": fill_tph, "reclaim_tph": reclaim_tph},
    )


# --- Dispatch


def dispatch_lookahead(state_dict: dict, strategies: list[str], hours: float = DISPATCH_LOOKAHEAD_H) -> dict:
    """Tonnes dumped in `hours` of simulated time from the same state (and random draws) per strategy."""
    tonnes = {}
    for name in strategies:
        state = SiteState.from_dict(state_dict)
        dispatcher = get_dispatcher(name)
        total = 0.0
        for _ in range(round(hours * 3600 / 60.0)):
            result = step(state, 60.0, dispatcher=dispatcher)
            total += sum(e.data.get("payload_t", 0.0) for e in result.events if e.kind == "dumped")
        tonnes[name] = total
    return tonnes


def dispatch_advice(current: str, tonnes: dict[str, float], hours: float) -> Advice | None:
    best = max(tonnes, key=tonnes.get)
    gain = tonnes[best] - tonnes.get(current, 0.0)
    if best == current or gain < DISPATCH_MIN_GAIN_T or gain < DISPATCH_MIN_GAIN * tonnes.get(current, 0.0):
        return None
    per_h = gain / hours
    label = best.replace("_", " ")
    return Advice(
        kind="dispatch",
        subject="site",
        priority=MEDIUM if gain >= 0.08 * tonnes.get(current, 0.0) else LOW,
        title=f"Switch dispatch to {label}",
        reasoning=(
            f"Simulating the next {hours:.0f} h from the mine as it is now, with the same breakdowns and "
            f"delays for every strategy, {label} moves {tonnes[best]:,.0f} t against "
            f"{tonnes[current]:,.0f} t with {current.replace('_', ' ')}. One look-ahead is a forecast, not "
            "a guarantee: it is re-run every 15 minutes and this advice expires if the gain disappears."
        ),
        expected_impact=f"+{per_h:,.0f} t/h ({gain:,.0f} t over {hours:.0f} h)",
        impact_t=round(gain, 0),
        data={"tonnes": tonnes, "current": current, "best": best},
    )


# --- The site's refresh


def run_lookahead_if_due(site: Site, *, force: bool = False) -> dict[str, float] | None:
    """The dispatch look-ahead's tonnes per strategy when LOOKAHEAD_EVERY of simulated time has passed since
    it last ran for the site (or `force`), recorded as run; None when it is not due.

    Seconds of CPU at 1,000 trucks: call it outside any transaction, so that no snapshot is held open (and
    no vacuum of the tick's rows held back) while it simulates.
    """
    if not site.sim_state or site.sim_clock is None:
        return None
    last = DispatchLookahead.objects.filter(site=site).values_list("ran_at", flat=True).first()
    if not force and last is not None and site.sim_clock - last < LOOKAHEAD_EVERY:
        return None
    tonnes = dispatch_lookahead(site.sim_state, list(DispatchStrategy.values))
    DispatchLookahead.objects.update_or_create(
        site=site, defaults={"ran_at": site.sim_clock, "tonnes": tonnes}
    )
    return tonnes


def refresh(
    site: Site, *, predictions: list[Prediction], history: History, lookahead: dict[str, float] | None = None
) -> int:
    """Raise the advice that applies now and expire the engine's advice that no longer does; `lookahead` is
    what run_lookahead_if_due found (None: it did not run, and the dispatch advice stands).

    Returns how many recommendations were raised or refreshed."""
    now = site.sim_clock
    events = history.events
    history_h = (history.meta["end"] - history.meta["start"]).total_seconds() / 3600.0
    repair = repair_hours(events)
    rates = tonnes_per_unit_hour(events.loc[events["ts"] >= history.meta["start"]], history_h)
    trucks = history.readings.get("truck")
    queue_share = 0.0
    if trucks is not None and len(trucks):
        recent = trucks.loc[trucks["ts"] >= pd.Timestamp(now - dt.timedelta(hours=1))]
        queue_share = float((recent["status"] == "queued_at_loader").mean()) if len(recent) else 0.0
    next_shift = formulas.shift_start(now, site.timezone) + dt.timedelta(hours=12)
    flags = actionable(np.array([p.failure_probability for p in predictions], dtype="float64"))
    advice = [
        maintenance_advice(
            p,
            repair_h=repair.get(p.equipment_kind, DEFAULT_REPAIR_H),
            tonnes_per_h=rates.get(p.equipment_kind, 0.0),
            queue_share=queue_share,
            next_shift_at=next_shift,
            now=now,
            is_actionable=bool(flag),
        )
        for p, flag in zip(predictions, flags, strict=True)
    ]
    state = SiteState.from_dict(site.sim_state) if site.sim_state else None
    if state is not None and not predictions:
        advice += [
            service_due_advice(
                due, repair_h=repair.get(due.kind, DEFAULT_REPAIR_H), tonnes_per_h=rates.get(due.kind, 0.0)
            )
            for due in rules.services_due(state)
        ]
    advice += _stockpile_advice(site, history)
    if state is not None:
        by_subject = {(a.kind, a.subject) for a in advice if a is not None}
        advice += [a for a in state_advice(site, state, history) if (a.kind, a.subject) not in by_subject]
    kinds = ["maintenance", "stockpile", "dispatch"]
    keep = []
    if lookahead is not None:
        advice.append(dispatch_advice(site.dispatch_strategy, lookahead, DISPATCH_LOOKAHEAD_H))
    else:
        keep.append(("dispatch", "site"))  # the look-ahead did not run: its advice stands until it does
    for item in filter(None, advice):
        services.upsert_recommendation(
            site=site, kind=item.kind, subject=item.subject, title=item.title, reasoning=item.reasoning,
            expected_impact=item.expected_impact, priority=item.priority, impact_t=item.impact_t,
            impact_h=item.impact_h, data=item.data,
        )  # fmt: skip
        keep.append((item.kind, item.subject))
    services.expire_recommendations(site=site, kinds=kinds, keep=keep)
    return len(keep)


def _stockpile_advice(site: Site, history: History) -> list[Advice | None]:
    readings = history.readings.get("stockpile")
    if readings is None or readings.empty:
        return []
    recent = readings.loc[readings["ts"] >= readings["ts"].max() - pd.Timedelta(STOCKPILE_RATE_WINDOW)]
    rates = recent.groupby("unit_id")[["fill_rate_tph", "discharge_rate_tph"]].mean()
    levels = recent.sort_values("ts").groupby("unit_id")["level_t"].last()
    advice = []
    for pile in Stockpile.objects.filter(site=site, pk__in=list(rates.index)):
        advice.append(
            stockpile_advice(
                pile_id=pile.pk,
                name=pile.name,
                level_t=float(levels[pile.pk]),
                capacity_t=pile.capacity_t,
                fill_tph=float(rates.loc[pile.pk, "fill_rate_tph"]),
                reclaim_tph=float(rates.loc[pile.pk, "discharge_rate_tph"]),
            )
        )
    return advice
