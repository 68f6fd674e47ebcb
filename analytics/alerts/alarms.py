"""The alarm rules at the edge: run the pure engine on each saved step and telemetry batch, persist only its
transitions, publish them live after commit.

Registered in fleet.hooks by AnalyticsConfig.ready(), so it runs inside the tick's (or the telemetry
batch's) transaction. The engine of each site lives in this process's memory between ticks; it is trusted
only while the site's tick number continues where it left off. Another worker process ticking the site, or
a tick that rolled back, makes the numbers disagree, and the engine is rebuilt from the open alarms in the
database (an on-delay then in progress starts again: documented in docs/alarms.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from analytics.alerts import engine
from analytics.alerts.models import AlarmRule, Alert
from analytics.alerts.selectors import alert_items
from fleet import units
from smartmine.platform import live

logger = logging.getLogger(__name__)
#: Telemetry silence is measured against readings this recent (older ones: silent since at least then).
SILENCE_LOOKBACK = dt.timedelta(hours=1)


@dataclass
class SiteAlarms:
    engine: engine.AlarmEngine
    rules: dict[int, AlarmRule]
    next_tick: int | None


_SITES: dict[int, SiteAlarms] = {}


def forget(site_id: int | None = None) -> None:
    """Drop the in-memory engines (tests; a site deleted)."""
    if site_id is None:
        _SITES.clear()
    else:
        _SITES.pop(site_id, None)


def _site_alarms(site_id: int, tick: int | None, clock_s: float) -> SiteAlarms:
    """The site's engine, rebuilt when the rules changed or the tick does not continue the cached one."""
    rows = {rule.pk: rule for rule in AlarmRule.objects.filter(enabled=True)}
    rules = [row.as_engine_rule() for row in rows.values()]
    cached = _SITES.get(site_id)
    if cached is not None and (tick is None or cached.next_tick == tick):
        if cached.engine.rules != rules:
            kept = {rule.id for rule in rules}
            fresh = engine.AlarmEngine(rules, last_seen_s=cached.engine.last_seen_s)
            fresh.points = {key: p for key, p in cached.engine.points.items() if key[0] in kept}
            cached.engine = fresh
        cached.rules = rows
        cached.engine.stale_after_s = settings.TELEMETRY_STALE_AFTER_S
        return cached
    fresh = engine.AlarmEngine(rules, stale_after_s=settings.TELEMETRY_STALE_AFTER_S)
    open_alarms = Alert.objects.filter(site_id=site_id, cleared_at__isnull=True, rule_id__in=list(rows))
    fresh.restore_active(
        ((rule_id, kind, unit_id) for rule_id, kind, unit_id in
         open_alarms.values_list("rule_id", "equipment_type__model", "equipment_id")),
        clock_s,
    )  # fmt: skip
    _SITES[site_id] = site_alarms = SiteAlarms(fresh, rows, tick)
    return site_alarms


def evaluate_steps(site: Any, records: list, state: Any) -> None:
    """fleet.hooks after_steps: evaluate every rule at every saved step, persist the transitions."""
    if not records:
        return
    alarms = _site_alarms(site.pk, site.tick, records[0].clock_s)
    # Until this evaluation is done the engine continues no tick: one that fails midway (the tick rolls back)
    # is rebuilt from the database next time, never reused half-advanced. A tick that rolls back after this
    # leaves the database's tick number behind next_tick, which rebuilds it too.
    alarms.next_tick = None
    tanks = {truck.id: truck.fuel_tank_l for truck in state.trucks}
    transitions: list[engine.Transition] = []
    for record in records:
        observed, live_units = engine.observations(record.readings, record.captured.get("alarms", {}), tanks)
        if any(live_units.values()):
            _note_live_readings(alarms.engine, live_units, record.clock_s)
        transitions += alarms.engine.evaluate(record.clock_s, observed, live_units)
    alarms.next_tick = site.tick + len(records)
    if transitions:
        apply_transitions(site.pk, transitions, alarms.rules)


def _note_live_readings(
    alarm_engine: engine.AlarmEngine, live_units: dict[str, list[int]], clock_s: float
) -> None:
    """Silence is measured from the newest stored reading (telemetry may arrive in another process)."""
    since = dt.datetime.fromtimestamp(clock_s, dt.UTC) - SILENCE_LOOKBACK
    for kind, ids in live_units.items():
        reading = units.get(kind).reading if ids else None
        if reading is None:
            continue
        newest = (
            reading.objects.filter(equipment_id__in=ids, ts__gte=since)
            .values("equipment_id")
            .annotate(newest=Max("ts"))
        )
        for row in newest:
            alarm_engine.note_seen(kind, row["equipment_id"], row["newest"].timestamp())


def evaluate_telemetry(kind: str, readings: Any) -> None:
    """fleet.hooks after_telemetry: sensor rules on the newest accepted reading of each unit."""
    if readings is None or not len(readings):
        return
    newest = _newest_per_unit(readings)
    table = units.get(kind).model._meta.db_table
    tank = "fuel_tank_l" if kind == "truck" else "NULL"
    with connection.cursor() as cursor:  # an array parameter: a batch names a thousand units
        cursor.execute(
            f'SELECT id, site_id, {tank} FROM "{table}" WHERE id = ANY(%s)', [newest["equipment_id"].tolist()]
        )
        found = cursor.fetchall()
    sites = {pk: site_id for pk, site_id, _ in found}
    tanks = {pk: tank_l for pk, _, tank_l in found if tank_l is not None}
    by_site: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    clocks: dict[int, float] = {}
    names = list(newest.columns)
    for values in zip(*(newest[name].tolist() for name in names), strict=True):
        row = dict(zip(names, values, strict=True))
        site_id = sites.get(row["equipment_id"])
        if site_id is None:
            continue
        ts_s = row["ts"].timestamp()
        by_site[site_id][row["equipment_id"]] = row
        clocks[site_id] = max(clocks.get(site_id, ts_s), ts_s)
    for site_id, rows in by_site.items():
        engine.add_fuel_pct(rows, tanks)
        alarms = _site_alarms(site_id, None, clocks[site_id])
        for unit_id, row in rows.items():
            alarms.engine.note_seen(kind, unit_id, row["ts"].timestamp())
        transitions = alarms.engine.evaluate(clocks[site_id], {kind: rows})
        if transitions:
            apply_transitions(site_id, transitions, alarms.rules)


def _newest_per_unit(readings: Any) -> Any:
    """Each unit's newest reading (the rules look at a unit's present, not its past), as Python values."""
    ids = readings["equipment_id"].to_numpy()
    ts = readings["ts"].to_numpy(dtype="datetime64[ns]")
    order = np.lexsort((ts, ids))
    last = order[np.append(ids[order][1:] != ids[order][:-1], True)]
    return readings.iloc[last]


def evaluate_scores(
    site_id: int, kind: str, scores: dict[tuple[str, int], float], clock: dt.datetime
) -> list[int]:
    """ML results through the alarm rules of `kind` (ml_risk: failure probabilities; anomaly: anomaly scores),
    persisted like any alarm: raised once, updated, cleared when the score drops below limit - deadband.

    `scores` holds every unit just scored, (unit kind, unit id) -> score; a unit left out keeps its state.
    Returns the ids of the alerts changed."""
    if kind not in ("ml_risk", "anomaly"):
        raise ValueError(f"evaluate_scores: kind {kind!r} is not an ML rule kind (ml_risk or anomaly)")
    clock_s = clock.timestamp()
    alarms = _site_alarms(site_id, None, clock_s)
    transitions = alarms.engine.evaluate_scores(clock_s, kind, scores)
    return apply_transitions(site_id, transitions, alarms.rules) if transitions else []


def _message(rule: AlarmRule | None, transition: engine.Transition) -> str:
    value = transition.value
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    if rule is None:
        return f"{transition.rule.title}: {transition.rule.field} {shown}"
    limit = rule.states if rule.comparison == "in" else f"{rule.comparison} {rule.limit:g}"
    return (
        f"{rule.name}: {rule.field} {shown} (alarm {limit}). {rule.explanation} "
        f"Action: {rule.operator_action}"
    )


def _numeric(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def apply_transitions(
    site_id: int, transitions: list[engine.Transition], rules: dict[int, AlarmRule]
) -> list[int]:
    """Persist raises, updates and clears (idempotent: one open alarm per rule and unit) and publish them on
    the `alerts` stream after commit; returns the ids of the alerts changed.

    A few statements for the whole list, whatever its length: a flood (a site-wide fault raising an alarm on
    every truck at once) must not stall the tick or the telemetry batch that found it. An alarm with more
    than one transition in the list (raised and cleared within one batch of steps) goes one by one, in order.
    """
    types = {kind: ContentType.objects.get_for_model(units.get(kind).model) for kind in
             {t.unit_kind for t in transitions}}  # fmt: skip
    raised_ids: dict[str, set[int]] = defaultdict(set)
    for t in transitions:
        if t.action == "raise":
            raised_ids[t.unit_kind].add(t.unit_id)
    names = {
        kind: {pk: str(unit) for pk, unit in units.get(kind).model.objects.in_bulk(list(ids)).items()}
        for kind, ids in raised_ids.items()
    }
    keyed = [((types[t.unit_kind].pk, t.unit_id, t.rule.code), t) for t in transitions]
    counts = Counter(key for key, _ in keyed)
    changed = _apply_at_once(site_id, [(k, t) for k, t in keyed if counts[k] == 1], rules, names)
    for key, t in [(key, t) for key, t in keyed if counts[key] > 1]:  # in order, each reading the last's rows
        changed += _apply_at_once(site_id, [(key, t)], rules, names)
    if changed:
        live.publish_on_commit(site_id, {"alert": alert_items(ids=sorted(set(changed)))})
    return changed


AlarmKey = tuple[int, int, str]  # (equipment content type, equipment id, rule code)


def _apply_at_once(
    site_id: int, keyed: list[tuple[AlarmKey, engine.Transition]], rules: dict[int, AlarmRule], names: dict
) -> list[int]:
    """Transitions of distinct alarms: their open rows read in one query, updated and cleared in two bulk
    updates, the new ones created in one insert."""
    if not keyed:
        return []
    wanted = {key for key, _ in keyed}
    rows = Alert.objects.filter(cleared_at__isnull=True, **_narrowed_to(wanted)).only(
        "pk", "equipment_type_id", "equipment_id", "kind", "repeat_count"
    )
    open_alarms = {
        key: row for row in rows if (key := (row.equipment_type_id, row.equipment_id, row.kind)) in wanted
    }
    new_keys = {key for key, t in keyed if t.action == "raise" and key not in open_alarms}
    shelving = _shelving(new_keys)
    cleared, updated, created = [], [], []
    for key, t in keyed:
        at, value, alert = (
            dt.datetime.fromtimestamp(t.clock_s, dt.UTC),
            _numeric(t.value),
            open_alarms.get(key),
        )
        if t.action == "clear":
            if alert is not None:
                alert.cleared_at, alert.last_value = at, value
                cleared.append(alert)
            continue
        rule = rules.get(t.rule.id)
        if alert is not None:
            alert.message, alert.last_value, alert.last_raised_at = _message(rule, t), value, at
            alert.severity, alert.repeat_count = t.rule.severity, alert.repeat_count + 1
            updated.append(alert)
        elif t.action == "raise":  # an update of an alarm nobody holds open any more changes nothing
            shelved = shelving.get(key, {})
            created.append(
                Alert(
                    site_id=site_id, equipment_type_id=key[0], equipment_id=key[1], kind=key[2],
                    equipment_name=names.get(t.unit_kind, {}).get(t.unit_id, f"{t.unit_kind} {t.unit_id}"),
                    severity=t.rule.severity, message=_message(rule, t), raised_at=at, last_raised_at=at,
                    rule=rule, last_value=value, annunciated=not shelved, **shelved,
                )
            )  # fmt: skip
    Alert.objects.bulk_update(cleared, ["cleared_at", "last_value"], batch_size=1000)
    Alert.objects.bulk_update(
        updated, ["message", "last_value", "last_raised_at", "severity", "repeat_count"], batch_size=1000
    )
    created = Alert.objects.bulk_create(created, batch_size=1000)
    return [alert.pk for alert in (*cleared, *updated, *created)]


def _narrowed_to(keys: set[AlarmKey]) -> dict[str, set]:
    """Filters that keep the rows of `keys` (and some of other combinations of their parts: callers check
    each row's key)."""
    return {
        "equipment_type_id__in": {key[0] for key in keys},
        "equipment_id__in": {key[1] for key in keys},
        "kind__in": {key[2] for key in keys},
    }


def _shelving(keys: set[AlarmKey]) -> dict[AlarmKey, dict]:
    """The shelving in force for each alarm (rule on unit), from its latest shelved row: shelving holds for
    the alarm across its raises until it runs out (it runs on wall time)."""
    if not keys:
        return {}
    rows = (
        Alert.objects.filter(shelved_until__gt=timezone.now(), **_narrowed_to(keys))
        .order_by("shelved_until")
        .values_list(
            "equipment_type_id", "equipment_id", "kind", "shelved_until", "shelved_reason", "shelved_by"
        )
    )
    found: dict[AlarmKey, dict] = {}
    for type_id, unit_id, code, until, reason, by in rows:  # ascending: the latest is kept
        if (type_id, unit_id, code) in keys:
            found[(type_id, unit_id, code)] = {
                "shelved_until": until,
                "shelved_reason": reason,
                "shelved_by_id": by,
            }
    return found
