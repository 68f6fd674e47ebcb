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
from analytics.recommendations import services
from analytics.recommendations.models import RecommendationPriority
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
DISPATCH_EVERY_TICKS = 180  # 15 min at 5 s ticks: the look-ahead costs a few hundred engine steps
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


def refresh(
    site: Site, *, predictions: list[Prediction], history: History, dispatch: bool | None = None
) -> int:
    """Raise the advice that applies now and expire the engine's advice that no longer does.

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
    advice += _stockpile_advice(site, history)
    kinds = ["maintenance", "stockpile"]
    if dispatch if dispatch is not None else site.tick % DISPATCH_EVERY_TICKS < 12:
        kinds.append("dispatch")
        if site.sim_state:
            tonnes = dispatch_lookahead(site.sim_state, list(DispatchStrategy.values))
            advice.append(dispatch_advice(site.dispatch_strategy, tonnes, DISPATCH_LOOKAHEAD_H))
    keep = []
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
