"""Benchmark: the alarm rules end to end through the database, against the simulator's stored ground truth.

`manage.py simulate` runs the default site headless in a scratch database (bench.common.BenchDatabase):
batches of 360 steps go through fleet.ticking.save_steps -> fleet.hooks -> analytics.alerts.alarms, so the
Alert rows are what a live site would hold. They are then compared with what the simulator stored:

- status alarms (breakdowns, crusher blocked, stockpile full and empty) against the SimEvent log: an event
  starts the condition, the unit's stored readings (loaders: the `repaired` event) say when it ended;
  a crusher idle for the starved rule's on-delay is traced from the crusher readings;
- sensor alarms against the FaultLabel rows (the faults the simulator injected): how many labelled faults
  on an alarmed sensor raised an alarm, and how many sensor alarms a labelled fault explains.

Figures (docs/alarms.md): recall, duplicates, raises and clears off by more than one tick (one 10 s engine
step), unexplained raises, the ISA-18.2 load figures from the same selector as GET /api/alerts/performance,
and the wall time of `simulate` with the alarm hook against the same run with the hook taken out.

Usage: `python -m bench.bench_alarms --db [--days 1] [--seeds 11] [--repeats 3]` (this module's run()).
"""

from __future__ import annotations

import io
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass

from bench.common import BenchDatabase, setup_django

STEP_S = 10.0  # fleet/management/commands/simulate.py STEP_S: one engine step, one tick of the alarm engine
#: SimEvent kind and unit kind -> the rule it starts and the status the unit holds while it lasts.
EVENT_RULES = {
    ("breakdown", "truck"): ("truck_breakdown", "broken_down"),
    ("breakdown", "loader"): ("loader_breakdown", "broken_down"),
    ("breakdown", "crusher"): ("crusher_breakdown", "broken_down"),
    ("blocked", "crusher"): ("crusher_blocked", "blocked"),
    ("stockpile_full", "stockpile"): ("stockpile_high_high", "full"),
    ("stockpile_empty", "stockpile"): ("stockpile_low_low", "empty"),
}
#: Rules traced from the stored readings alone (no event marks them): rule -> (unit kind, status).
READING_RULES = {"crusher_starved": ("crusher", "idle")}


@dataclass
class Expected:
    rule: str
    unit_kind: str
    unit_id: int
    start_s: float  # when the alarm should be raised (condition start + on-delay)
    end_s: float | None  # when it should clear (condition end + off-delay); None: on at the end of the run


@dataclass
class Raised:
    rule: str
    unit_kind: str
    unit_id: int
    raised_s: float
    cleared_s: float | None


def _status_changes(kind: str, site_id: int) -> dict[int, list[tuple[float, str]]]:
    """Each unit's status changes in its stored readings: unit id -> [(ts, new status), ...] in time order."""
    from django.db import connection

    from fleet import units

    unit_kind = units.get(kind)
    table, ids = (
        unit_kind.reading._meta.db_table,
        list(unit_kind.model.objects.filter(site_id=site_id).values_list("pk", flat=True)),
    )
    sql = (
        f"SELECT equipment_id, ts, status FROM (SELECT equipment_id, ts, status, lag(status) OVER "
        f'(PARTITION BY equipment_id ORDER BY ts) AS before FROM "{table}" WHERE equipment_id = ANY(%s)) s '
        "WHERE before IS DISTINCT FROM status ORDER BY equipment_id, ts"
    )
    changes: dict[int, list[tuple[float, str]]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids])
        for unit_id, ts, status in cursor.fetchall():
            changes[unit_id].append((ts.timestamp(), status))
    return changes


def _spells(changes: list[tuple[float, str]], status: str) -> list[tuple[float, float | None]]:
    """The spans a unit's readings show `status`: [(first reading in it, first reading out of it or None)]."""
    spans, since = [], None
    for ts, value in changes:
        if value == status and since is None:
            since = ts
        elif value != status and since is not None:
            spans.append((since, ts))
            since = None
    if since is not None:
        spans.append((since, None))
    return spans


def _bridge(spans: list[tuple[float, float | None]], off_delay_s: float) -> list[tuple[float, float | None]]:
    """Spans whose gap is within the off-delay are one alarm (the off-delay bridges them by design)."""
    merged: list[list] = []
    for start, end in spans:
        if merged and merged[-1][1] is not None and start - merged[-1][1] <= off_delay_s:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def ground_truth(site_id: int, rules: dict) -> tuple[list[Expected], int]:
    """Expected alarms from the SimEvent log and the stored readings; also how many logged conditions
    ended within their step (no stored reading shows them: nothing a per-step rule can see)."""
    from fleet.models import SimEvent

    changes = {kind: _status_changes(kind, site_id) for kind in ("truck", "crusher", "stockpile")}
    events = (
        SimEvent.objects.filter(site_id=site_id)
        .order_by("ts", "id")
        .values_list("kind", "unit_kind", "unit_id", "ts")
    )
    starts: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    repaired: dict[int, list[float]] = defaultdict(list)
    for kind, unit_kind, unit_id, ts in events:
        if (kind, unit_kind) in EVENT_RULES:
            starts[(EVENT_RULES[(kind, unit_kind)][0], unit_kind, unit_id)].append(ts.timestamp())
        elif kind == "repaired" and unit_kind == "loader":
            repaired[unit_id].append(ts.timestamp())
    status_of = dict(EVENT_RULES.values())
    expected, unseen = [], 0
    for (rule, unit_kind, unit_id), times in starts.items():
        if unit_kind == "loader":
            spans = [(t, next((r for r in repaired[unit_id] if r > t), None)) for t in times]
        else:
            shown = _spells(changes[unit_kind].get(unit_id, []), status_of[rule])
            spans = []
            for t in times:
                span = next((s for s in shown if s[0] <= t and (s[1] is None or t < s[1])), None)
                if span is None:
                    unseen += 1
                elif span not in spans:
                    spans.append(span)
        for start, end in _bridge(sorted(spans), rules[rule].off_delay_s):
            off = rules[rule].off_delay_s
            expected.append(Expected(rule, unit_kind, unit_id, start, None if end is None else end + off))
    for rule, (unit_kind, status) in READING_RULES.items():
        on_delay, off_delay = rules[rule].on_delay_s, rules[rule].off_delay_s
        for unit_id, unit_changes in changes[unit_kind].items():
            held = [(s, e) for s, e in _spells(unit_changes, status) if e is None or e - s >= on_delay]
            for start, end in _bridge(held, off_delay):
                expected.append(
                    Expected(
                        rule, unit_kind, unit_id, start + on_delay, None if end is None else end + off_delay
                    )
                )
    return expected, unseen


def raised_alarms(site_id: int) -> list[Raised]:
    from analytics.alerts.models import Alert

    rows = Alert.objects.filter(site_id=site_id).values_list(
        "kind", "equipment_type__model", "equipment_id", "raised_at", "cleared_at"
    )
    return [
        Raised(kind, unit_kind, unit_id, raised.timestamp(), cleared.timestamp() if cleared else None)
        for kind, unit_kind, unit_id, raised, cleared in rows
    ]


def score(expected: list[Expected], alarms: list[Raised], end_s: float) -> dict:
    """Recall, duplicates, raise and clear timing (in ticks), and raises of covered rules nothing explains."""
    by_key: dict[tuple[str, str, int], list[Raised]] = defaultdict(list)
    for alarm in alarms:
        by_key[(alarm.rule, alarm.unit_kind, alarm.unit_id)].append(alarm)
    matched = duplicates = late_raises = late_clears = 0
    explained: set[int] = set()
    raise_lags, clear_lags, missed = [], [], []
    for e in expected:
        until = e.end_s if e.end_s is not None else end_s
        raises = [
            a for a in by_key[(e.rule, e.unit_kind, e.unit_id)] if e.start_s - STEP_S <= a.raised_s <= until
        ]
        explained.update(id(a) for a in raises)
        if not raises:
            missed.append(vars(e))
            continue
        matched += 1
        duplicates += len(raises) - 1
        first = min(raises, key=lambda a: a.raised_s)
        raise_lags.append(first.raised_s - e.start_s)
        late_raises += abs(first.raised_s - e.start_s) > STEP_S
        if e.end_s is not None:
            if first.cleared_s is None:
                late_clears += 1
            else:
                clear_lags.append(first.cleared_s - e.end_s)
                late_clears += abs(first.cleared_s - e.end_s) > STEP_S
    covered = {e.rule for e in expected} | {rule for rule, _ in EVENT_RULES.values()} | set(READING_RULES)
    unexplained = [a for a in alarms if a.rule in covered and id(a) not in explained]
    return {
        "expected": len(expected),
        "expected_by_rule": dict(sorted(_count(e.rule for e in expected).items())),
        "recall_pct": round(100.0 * matched / len(expected), 2) if expected else None,
        "duplicates": duplicates,
        "raises_off_by_more_than_a_tick": late_raises,
        "clears_off_by_more_than_a_tick": late_clears,
        "raise_lag_s_max": max((abs(x) for x in raise_lags), default=None),
        "clear_lag_s_max": max((abs(x) for x in clear_lags), default=None),
        "unexplained_raises_of_covered_rules": len(unexplained),
        "missed": missed[:10],
    }


def _count(items) -> dict:
    counts: dict = defaultdict(int)
    for item in items:
        counts[item] += 1
    return counts


def fault_coverage(site_id: int, alarms: list[Raised], rules: dict, end_s: float) -> dict:
    """Sensor rules against the injected faults (FaultLabel): faults on an alarmed sensor that raised an
    alarm on their unit while they lasted, and sensor alarms raised during such a fault."""
    from fleet.models import FaultLabel

    fields = {
        (rule.unit_kind, rule.field): code for code, rule in rules.items() if rule.kind == "sensor_threshold"
    }
    labels = FaultLabel.objects.filter(site_id=site_id).values_list(
        "category", "unit_kind", "unit_id", "sensors", "started_at", "ended_at"
    )
    spans = []
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # category -> [faults, with an alarm]
    for category, unit_kind, unit_id, sensors, started, ended in labels:
        codes = {fields[(unit_kind, s)] for s in sensors if (unit_kind, s) in fields}
        if not codes:
            continue
        span = (codes, unit_kind, unit_id, started.timestamp(), ended.timestamp() if ended else end_s)
        spans.append(span)
        hit = any(
            a.rule in codes
            and a.unit_kind == unit_kind
            and a.unit_id == unit_id
            and span[3] <= a.raised_s <= span[4]
            for a in alarms
        )
        by_category[category][0] += 1
        by_category[category][1] += hit
    sensor_alarms = [a for a in alarms if a.rule in fields.values()]
    during = sum(
        any(
            a.rule in c and a.unit_kind == k and a.unit_id == u and s <= a.raised_s <= e
            for c, k, u, s, e in spans
        )
        for a in sensor_alarms
    )
    return {
        "faults_on_alarmed_sensors": {
            cat: {"faults": n, "raised_an_alarm": hit} for cat, (n, hit) in by_category.items()
        },
        "sensor_alarms": len(sensor_alarms),
        "sensor_alarms_during_a_labelled_fault": during,
    }


def _timed(hook, spent: list[float]):
    """The hook as registered, adding the seconds spent in it to spent[0]."""

    def timed(*args):
        started = time.perf_counter()
        try:
            return hook(*args)
        finally:
            spent[0] += time.perf_counter() - started

    return timed


def simulate_once(seed: int, hours: float, alarms: bool, scored: bool = True) -> dict:
    """One `simulate` run in a fresh scratch database; with alarms, the seconds spent in the hook and its
    capture, and (scored) its Alert rows against the truth."""
    from django.conf import settings
    from django.core.management import call_command

    from analytics.alerts import alarms as alarm_hook
    from analytics.alerts.models import AlarmRule
    from analytics.alerts.selectors import alarm_performance
    from fleet import hooks, seeding, state_cache
    from fleet.models import Site

    saved_hooks, saved_captures = list(hooks._after_steps), dict(hooks._captures)
    spent = [0.0]
    with BenchDatabase():
        call_command("migrate", verbosity=0)
        state_cache.forget()
        alarm_hook.forget()
        site = seeding.seed_site(
            name=seeding.DEFAULT_SITE_NAME,
            trucks=settings.MAX_TRUCKS,
            crushers=settings.MAX_CRUSHERS,
            stockpiles=settings.MAX_STOCKPILES,
            seed=seed,
        ).site  # fmt: skip (the site `simulate` seeds when it is missing)
        start_s = Site.objects.get(pk=site.pk).sim_clock.timestamp()
        if alarms:
            hooks._after_steps[:] = [_timed(hook, spent) for hook in saved_hooks]
            hooks._captures.update({name: _timed(take, spent) for name, take in saved_captures.items()})
        else:  # the hook and its per-step capture taken out: the tick path as it was without alarms
            hooks._after_steps.clear()
            hooks._captures.clear()
        try:
            started = time.perf_counter()
            call_command("simulate", site=site.name, hours=hours, seed=seed, stdout=io.StringIO())
            wall_s = time.perf_counter() - started
        finally:
            hooks._after_steps[:] = saved_hooks
            hooks._captures.update(saved_captures)
        steps = round(hours * 3600 / STEP_S)
        result: dict = {
            "wall_s": round(wall_s, 1),
            "steps": steps,
            "in_hook_ms_per_step": 1000 * spent[0] / steps,
        }
        if not (alarms and scored):
            return result
        site.refresh_from_db()
        end_s = site.sim_clock.timestamp()
        rules = {row.code: row.as_engine_rule() for row in AlarmRule.objects.all()}
        expected, unseen = ground_truth(site.pk, rules)
        raised = raised_alarms(site.pk)
        perf = alarm_performance(site=site.pk, hours=(end_s - start_s) / 3600, end=site.sim_clock)
        result.update(
            score(expected, raised, end_s),
            conditions_shorter_than_a_step=unseen,
            raises_by_rule=dict(sorted(_count(a.rule for a in raised).items())),
            faults=fault_coverage(site.pk, raised, rules, end_s),
            performance=perf.as_dict(),
        )
        return result


def run(days: float = 1.0, seeds: tuple[int, ...] = (11,), repeats: int = 1) -> dict:
    """Each seed with alarms (scored), then runs without the hook and with it, alternately, `repeats` times
    each: the hook's cost per step from the medians of the wall times, and as timed inside the hook."""
    setup_django()
    hours = 24.0 * days
    results = {}
    for seed in seeds:
        result = simulate_once(seed, hours, alarms=True)
        walls = {True: [result["wall_s"]], False: []}
        in_hook = [result["in_hook_ms_per_step"]]
        for i in range(2 * repeats - 1):
            alarms = i % 2 == 1
            again = simulate_once(seed, hours, alarms=alarms, scored=False)
            walls[alarms].append(again["wall_s"])
            if alarms:
                in_hook.append(again["in_hook_ms_per_step"])
        with_s, without_s = statistics.median(walls[True]), statistics.median(walls[False])
        result.update(
            wall_s_with_alarms=walls[True], wall_s_without_alarm_hook=walls[False],
            hook_ms_per_step_from_wall_times=round(1000 * (with_s - without_s) / result["steps"], 3),
            in_hook_ms_per_step=round(statistics.median(in_hook), 3),
        )  # fmt: skip
        results[seed] = result
    rows = [
        {"metric": f"alarm recall through the database, seed {seed}, {days:g} d", "median": r["recall_pct"],
         "min": None, "max": None, "unit": "%", "goal": "100 %", "met": r["recall_pct"] == 100.0}
        for seed, r in results.items()
    ] + [
        {"metric": f"alarm hook per step in simulate, seed {seed}", "median": r["in_hook_ms_per_step"],
         "min": None, "max": None, "unit": "ms", "goal": None, "met": None}
        for seed, r in results.items()
    ]  # fmt: skip
    return {"rows": rows, "seeds": results, "days": days, "repeats": repeats}
