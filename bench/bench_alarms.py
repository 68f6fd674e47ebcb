"""Benchmark: the alarm rules against the simulator's ground truth, and the alarm load (ISA-18.2 figures).

Runs the default site headless on the pure engine (no database: the alarm engine is the same code the tick
calls through fleet.hooks), one 10 s step at a time as `manage.py simulate` does, with the seeded default
rules. Every step the rules are evaluated; the raised alarms are matched against the events the simulator
logged (breakdowns, blocked crushers, full and empty stockpiles), against long queues traced from the state,
and against telemetry silences injected here (truck 1 made live for 10 h every 12 h from 6 h on, wherever it
is in its cycle; its telemetry stops for the last 10 minutes of each live spell, and then it is handed back
to the simulator, which ends the silence alarm).

Goals (issue 17): recall 100 %, duplicates 0, each raise within one tick of its condition and each clear
within one tick of its end (plus the rule's off-delay); <= 6 annunciated alarms an hour, no 10-minute window
above 10, no chattering alarm. Also times one evaluation on a 1,000-truck site (goal < 20 ms).

Usage: `python -m bench.bench_alarms [--days 7] [--seeds 11 12 13]`, or import and call run(). With `--db`
the same goals are measured end to end through `manage.py simulate` and the database (bench_alarms_db).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from analytics.alerts.defaults import DEFAULT_RULES
from analytics.alerts.engine import AlarmEngine, Rule, Transition, capture, observations
from analytics.alerts.performance import AlarmRecord, performance
from fleet.sim import SiteState, default_site, step

STEP_S = 10.0
BIG = {"trucks": 1000, "loaders": 50, "crushers": 20, "stockpiles": 50}
#: Silence injection: every this many hours one truck goes live for LIVE_FOR_H, falls silent for the last
#: SILENT_S of it and is handed back to the simulator.
SILENCE_EVERY_H = 12.0
LIVE_FROM_H = 6.0
LIVE_FOR_H = 10.0
SILENT_S = 600.0
SILENT_TRUCK = 1


def default_rules() -> list[Rule]:
    """The seeded defaults as engine rules (ids in list order, as the data migration numbers them)."""
    rules = []
    for number, spec in enumerate(DEFAULT_RULES, start=1):
        states = frozenset(s for s in spec.get("states", "").split(",") if s)
        rules.append(
            Rule(
                id=number, code=spec["code"], kind=spec["kind"], unit_kind=spec["unit_kind"],
                field=spec["field"], comparison=spec["comparison"], limit=spec.get("limit"), states=states,
                deadband=spec.get("deadband", 0.0), on_delay_s=spec.get("on_delay_s", 0.0),
                off_delay_s=spec.get("off_delay_s", 0.0), severity=spec["severity"], title=spec["name"],
            )
        )  # fmt: skip
    return rules


@dataclass
class Expected:
    """One injected operational event a rule covers: the alarm must start and end with it."""

    rule: str
    unit_kind: str
    unit_id: int
    start_s: float  # when the rule's condition (including its on-delay) is met
    end_s: float | None  # when it ends (None: still on at the end of the run)


def simulate(seed: int, days: float) -> dict:
    """Run the default site with the default rules; return raises, clears and the expected events."""
    state = default_site(seed=seed)
    rules = default_rules()
    by_code = {rule.code: rule for rule in rules}
    engine = AlarmEngine(rules)
    tanks = {truck.id: truck.fuel_tank_l for truck in state.trucks}
    transitions: list[Transition] = []
    expected: list[Expected] = []
    open_status: dict[tuple[str, str, int], float] = {}  # (rule, kind, id) -> start of the status event
    queue_since: dict[tuple[str, int], float] = {}
    silence_plan = _silence_plan(state, days)
    silent_truck = next(t for t in state.trucks if t.id == SILENT_TRUCK)
    eval_s: list[float] = []
    went_live_while: Counter[str] = Counter()  # the phase truck 1 was in when it went live
    start_clock = state.clock_s
    steps = int(days * 86400 / STEP_S)
    for _ in range(steps):
        now = state.clock_s + STEP_S
        spell = next(((f, s, b) for f, s, b in silence_plan if f <= now < b), None)
        if spell is not None and not silent_truck.live:
            went_live_while[str(silent_truck.status)] += 1
        silent_truck.live = spell is not None
        if spell is not None and now < spell[1]:
            engine.note_seen("truck", SILENT_TRUCK, now)
        result = step(state, STEP_S)
        captured = capture(state)
        observed, live = observations(result.readings, captured, tanks)
        started = time.perf_counter()
        transitions += engine.evaluate(state.clock_s, observed, live)
        eval_s.append(time.perf_counter() - started)
        _status_truth(result, state, open_status, expected, by_code)
        _queue_truth(state, queue_since, expected, by_code)
    for (code, kind, unit_id), start_s in open_status.items():
        expected.append(Expected(code, kind, unit_id, start_s, None))
    for (kind, unit_id), since in queue_since.items():
        rule = by_code[f"{kind}_queue_long"]
        if state.clock_s - since >= rule.on_delay_s:
            expected.append(Expected(rule.code, kind, unit_id, since + rule.on_delay_s, None))
    for _, silent_from, handed_back in silence_plan:
        if handed_back <= state.clock_s:
            last_seen = silent_from - STEP_S
            limit = by_code["truck_silent"].limit
            expected.append(Expected("truck_silent", "truck", SILENT_TRUCK, last_seen + limit, handed_back))
    return {
        "start_s": start_clock, "end_s": state.clock_s, "transitions": transitions, "expected": expected,
        "eval_ms_median": 1000 * statistics.median(eval_s), "rules": by_code,
        "went_live_while": dict(went_live_while),
    }  # fmt: skip


def _silence_plan(state: SiteState, days: float) -> list[tuple[float, float, float]]:
    """Truck 1's live spells (live from, silent from, handed back): one every SILENCE_EVERY_H from
    LIVE_FROM_H, LIVE_FOR_H long, whatever the truck is doing when it goes live or is handed back."""
    first = state.clock_s + LIVE_FROM_H * 3600
    count = int((days * 24 - LIVE_FROM_H) / SILENCE_EVERY_H) + 1
    spells = []
    for i in range(count):
        live_from = first + i * SILENCE_EVERY_H * 3600
        handed_back = live_from + LIVE_FOR_H * 3600
        spells.append((live_from, handed_back - SILENT_S, handed_back))
    return spells


STATUS_RULES = {
    ("truck", "broken_down"): "truck_breakdown",
    ("loader", "broken_down"): "loader_breakdown",
    ("crusher", "broken_down"): "crusher_breakdown",
    ("crusher", "blocked"): "crusher_blocked",
    ("stockpile", "full"): "stockpile_high_high",
    ("stockpile", "empty"): "stockpile_low_low",
}
START_EVENTS = {"breakdown": "broken_down", "blocked": "blocked", "stockpile_full": "full",
                "stockpile_empty": "empty"}  # fmt: skip


def _status_truth(result, state: SiteState, open_status: dict, expected: list, by_code: dict) -> None:
    """Events the simulator logged start an expected alarm; the unit leaving that state ends it (merged over
    gaps shorter than the rule's off-delay, which the rule bridges by design)."""
    for event in result.events:
        status = START_EVENTS.get(event.kind)
        code = STATUS_RULES.get((event.unit_kind, status)) if status else None
        if code is not None:
            open_status.setdefault((code, event.unit_kind, event.unit_id), state.clock_s)
    statuses = {
        (kind, unit.id): str(unit.status)
        for kind, plural in (("truck", "trucks"), ("loader", "loaders"), ("crusher", "crushers"),
                             ("stockpile", "stockpiles"))
        for unit in getattr(state, plural)
    }  # fmt: skip
    for key in list(open_status):
        code, kind, unit_id = key
        wanted = next(s for (k, s), c in STATUS_RULES.items() if c == code)
        if statuses[(kind, unit_id)] != wanted:
            expected.append(Expected(code, kind, unit_id, open_status.pop(key), state.clock_s))


def _queue_truth(state: SiteState, since: dict, expected: list, by_code: dict) -> None:
    for kind, plural in (("loader", "loaders"), ("crusher", "crushers")):
        rule = by_code[f"{kind}_queue_long"]
        for unit in getattr(state, plural):
            key = (kind, unit.id)
            if len(unit.queue) >= rule.limit and not unit.live:
                since.setdefault(key, state.clock_s)
            elif key in since:
                began = since.pop(key)
                if state.clock_s - began > rule.on_delay_s:  # still queued when the on-delay ran out
                    expected.append(
                        Expected(rule.code, kind, unit.id, began + rule.on_delay_s, state.clock_s)
                    )


def score(run: dict) -> dict:
    """Match alarms to expected events: recall, duplicates, raise and clear lags (in ticks)."""
    rules = run["rules"]
    alarms: dict[tuple[str, str, int], list[list]] = defaultdict(list)  # key -> [[raised, cleared], ...]
    for t in run["transitions"]:
        key = (t.rule.code, t.unit_kind, t.unit_id)
        if t.action == "raise":
            alarms[key].append([t.clock_s, None])
        elif t.action == "clear":
            alarms[key][-1][1] = t.clock_s
    covered = {e.rule for e in run["expected"]}
    matched = duplicates = late_clears = 0
    misses = []
    for e in run["expected"]:
        until = e.end_s if e.end_s is not None else run["end_s"]
        raises = [a for a in alarms[(e.rule, e.unit_kind, e.unit_id)] if e.start_s - STEP_S <= a[0] <= until]
        on_time = [a for a in raises if abs(a[0] - e.start_s) <= STEP_S]
        if on_time:
            matched += 1
            duplicates += len(raises) - 1
            want_clear = None if e.end_s is None else e.end_s + rules[e.rule].off_delay_s
            got_clear = on_time[0][1]
            if want_clear is not None and (got_clear is None or abs(got_clear - want_clear) > STEP_S):
                late_clears += 1
        else:
            misses.append(e)
    records = [
        AlarmRecord(key=key, raised_s=raised, cleared_s=cleared)
        for key, spans in alarms.items()
        for raised, cleared in spans
    ]
    perf = performance(records, start_s=run["start_s"], end_s=run["end_s"])
    by_rule = defaultdict(int)
    for key, spans in alarms.items():
        by_rule[key[0]] += len(spans)
    return {
        "expected": len(run["expected"]),
        "expected_by_rule": {
            code: sum(1 for e in run["expected"] if e.rule == code) for code in sorted(covered)
        },
        "recall_pct": round(100.0 * matched / len(run["expected"]), 2) if run["expected"] else None,
        "duplicates": duplicates,
        "clears_off_by_more_than_a_tick": late_clears,
        "missed": [vars(e) for e in misses[:10]],
        "raises_by_rule": dict(sorted(by_rule.items())),
        "performance": perf.as_dict(),
        "eval_ms_median_default_site": round(run["eval_ms_median"], 3),
        "silent_truck_went_live_while": run["went_live_while"],
    }


def time_big_site(steps: int = 20) -> dict:
    """Median ms of one evaluation (capture + observations + rules) on a 1,000-truck site."""
    state = default_site(**BIG)
    engine = AlarmEngine(default_rules())
    tanks = {truck.id: truck.fuel_tank_l for truck in state.trucks}
    for _ in range(30):
        step(state, STEP_S)
    times = []
    for _ in range(steps):
        result = step(state, STEP_S)
        started = time.perf_counter()
        observed, live = observations(result.readings, capture(state), tanks)
        engine.evaluate(state.clock_s, observed, live)
        times.append(time.perf_counter() - started)
    return {"eval_ms_median_1000_trucks": round(1000 * statistics.median(times), 3),
            "eval_ms_max_1000_trucks": round(1000 * max(times), 3)}  # fmt: skip


def run(quick: bool = False, days: float = 7.0, seeds: tuple[int, ...] = (11, 12, 13)) -> dict:
    days = 1.0 if quick else days
    results = {}
    for seed in seeds:
        started = time.perf_counter()
        results[seed] = score(simulate(seed, days))
        results[seed]["wall_s"] = round(time.perf_counter() - started, 1)
    big = time_big_site()
    rows = [
        {"metric": f"alarm recall, seed {seed}, {days:g} d", "median": r["recall_pct"], "min": None,
         "max": None, "unit": "%", "goal": "100 %", "met": r["recall_pct"] == 100.0}
        for seed, r in results.items()
    ] + [
        {"metric": "alarm evaluation, 1,000 trucks", "median": big["eval_ms_median_1000_trucks"], "min": None,
         "max": big["eval_ms_max_1000_trucks"], "unit": "ms", "goal": "< 20 ms",
         "met": big["eval_ms_median_1000_trucks"] < 20},
    ]  # fmt: skip
    return {"rows": rows, "seeds": results, "big_site": big, "days": days}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    parser.add_argument("--quick", action="store_true", help="one simulated day")
    parser.add_argument(
        "--db", action="store_true", help="through manage.py simulate in a scratch database (bench_alarms_db)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="--db: timed runs with and without the hook")
    args = parser.parse_args()
    if args.db:
        from bench import bench_alarms_db

        result = bench_alarms_db.run(1.0 if args.quick else args.days, tuple(args.seeds), args.repeats)
    else:
        result = run(args.quick, args.days, tuple(args.seeds))
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
