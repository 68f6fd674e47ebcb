"""The pure alarm rule engine and the ISA-18.2 performance figures: no database."""

from __future__ import annotations

import pytest

from analytics.alerts.defaults import DEFAULT_RULES
from analytics.alerts.engine import AlarmEngine, Rule, RuleError, add_fuel_pct, capture, observations
from analytics.alerts.performance import AlarmRecord, performance
from fleet.sim import default_site, step


def rule(**overrides) -> Rule:
    spec = {"id": 1, "code": "r", "kind": "sensor_threshold", "unit_kind": "truck", "field": "engine_temp_c",
            "comparison": ">=", "limit": 100.0}  # fmt: skip
    return Rule(**{**spec, **overrides})


def run(engine: AlarmEngine, series: list[tuple[float, object]], kind: str = "truck", field: str = ""):
    """Feed one unit's values at the given clocks; return the actions in order."""
    field = field or engine.rules[0].field
    actions = []
    for clock_s, value in series:
        for t in engine.evaluate(clock_s, {kind: {7: {field: value}}}):
            actions.append((t.action, clock_s))
    return actions


# Each rule kind: raise, chatter suppression, clear -------------------------------------------------------


def test_a_threshold_raises_once_while_it_persists_and_clears_past_the_deadband():
    engine = AlarmEngine([rule(deadband=3.0)])
    actions = run(engine, [(0, 99), (10, 101), (20, 105), (30, 99), (40, 97.5), (50, 96.9)])
    assert actions == [("raise", 10), ("clear", 50)]  # 99 and 97.5 are inside the deadband


def test_a_noisy_value_around_the_limit_does_not_chatter_with_a_deadband():
    engine = AlarmEngine([rule(deadband=2.0)])
    noisy = [(i * 10.0, 100.5 if i % 2 else 99.5) for i in range(60)]
    assert [a for a, _ in run(engine, noisy)] == ["raise"]
    without = AlarmEngine([rule(deadband=0.0)])
    assert len([a for a, _ in run(without, noisy) if a == "raise"]) == 30  # what the deadband prevents


def test_the_on_delay_drops_a_condition_that_does_not_last():
    engine = AlarmEngine([rule(on_delay_s=60.0)])
    assert run(engine, [(0, 101), (30, 101), (50, 99)]) == []
    assert run(engine, [(100, 101), (130, 101), (160, 101)]) == [("raise", 160)]


def test_the_off_delay_bridges_a_short_return_to_normal():
    blocked = frozenset({"blocked"})
    engine = AlarmEngine([rule(kind="equipment_state", field="status", comparison="in", limit=None,
                               states=blocked, off_delay_s=30.0, unit_kind="crusher")])  # fmt: skip
    series = [
        (0, "blocked"),
        (10, "running"),
        (20, "blocked"),
        (30, "running"),
        (40, "running"),
        (60, "running"),
    ]
    assert run(engine, series, kind="crusher") == [("raise", 0), ("clear", 60)]


def test_an_equipment_state_rule_raises_on_the_step_the_state_begins():
    engine = AlarmEngine([rule(kind="equipment_state", field="status", comparison="in", limit=None,
                               states=frozenset({"broken_down"}))])  # fmt: skip
    series = [(0, "hauling"), (10, "broken_down"), (20, "broken_down"), (30, "waiting")]
    assert run(engine, series) == [("raise", 10), ("clear", 30)]


def test_a_low_stockpile_rule_compares_downward():
    engine = AlarmEngine([rule(kind="stockpile_level", unit_kind="stockpile", field="utilisation_pct",
                               comparison="<=", limit=0.002, deadband=0.498)])  # fmt: skip
    series = [(0, 3.0), (10, 0.001), (20, 0.3), (30, 0.6)]
    assert run(engine, series, kind="stockpile") == [("raise", 10), ("clear", 30)]


def test_a_queue_rule_needs_the_queue_for_its_on_delay():
    engine = AlarmEngine(
        [rule(kind="queue", unit_kind="loader", field="queue_length", limit=4, on_delay_s=300)]
    )
    series = [(t, 5) for t in range(0, 310, 10)] + [(310, 3)]
    assert run(engine, series, kind="loader") == [("raise", 300), ("clear", 310)]


def test_a_live_unit_silent_past_the_limit_raises_and_clears_when_it_reports():
    engine = AlarmEngine([rule(kind="silence", field="silence_s", limit=120)])
    engine.note_seen("truck", 7, 0.0)
    actions = []
    for clock_s in range(10, 200, 10):
        if clock_s == 180:
            engine.note_seen("truck", 7, 175.0)
        actions += [(t.action, clock_s) for t in engine.evaluate(clock_s, {}, {"truck": [7]})]
    assert actions == [("raise", 120), ("clear", 180)]


def test_a_silent_unit_handed_back_to_the_simulator_clears_and_counts_again_from_its_next_live_spell():
    engine = AlarmEngine([rule(kind="silence", field="silence_s", limit=120)])
    engine.note_seen("truck", 7, 0.0)
    actions = []
    for clock_s in range(10, 1000, 10):
        live = {"truck": [7] if clock_s < 300 or clock_s >= 600 else []}  # simulated from 300 s to 600 s
        actions += [(t.action, clock_s) for t in engine.evaluate(clock_s, {}, live) if t.action != "update"]
    assert actions == [("raise", 120), ("clear", 300), ("raise", 720)]


def test_a_telemetry_batch_without_the_live_list_leaves_silence_alarms_alone():
    engine = AlarmEngine([rule(kind="silence", field="silence_s", limit=120)])
    engine.note_seen("truck", 7, 0.0)
    assert [t.action for t in engine.evaluate(130, {}, {"truck": [7]})] == ["raise"]
    assert engine.evaluate(140, {"truck": {7: {"engine_temp_c": 90.0}}}) == []
    assert engine.active_keys() == {(1, "truck", 7)}


def test_fuel_is_a_share_of_each_trucks_own_tank_and_missing_data_gives_no_share():
    rows = {1: {"fuel_l": 300.0}, 2: {"fuel_l": 300.0}, 3: {"fuel_l": 300.0}, 4: {"fuel_l": float("nan")}}
    add_fuel_pct(rows, {1: 4921.0, 2: 1137.0, 4: 4921.0})
    assert rows[1]["fuel_pct"] == pytest.approx(6.096, abs=1e-3)
    assert rows[2]["fuel_pct"] == pytest.approx(26.385, abs=1e-3)
    assert "fuel_pct" not in rows[3] and "fuel_pct" not in rows[4]


def test_ml_scores_raise_through_their_rules_only():
    engine = AlarmEngine([rule(kind="ml_risk", field="risk", limit=0.8, deadband=0.1)])
    assert engine.evaluate(0, {"truck": {7: {"risk": 0.95}}}) == []  # not a per-step rule
    raised = engine.evaluate_scores(0, "ml_risk", {("truck", 7): 0.95})
    assert [(t.action, t.unit_id) for t in raised] == [("raise", 7)]
    assert engine.evaluate_scores(30, "ml_risk", {("truck", 7): 0.75}) == []  # inside the deadband
    assert [t.action for t in engine.evaluate_scores(120, "ml_risk", {("truck", 7): 0.6})] == ["clear"]


def test_an_active_alarm_is_updated_when_its_value_moves_but_at_most_once_a_minute():
    engine = AlarmEngine([rule(deadband=1.0)])
    actions = run(engine, [(0, 101), (10, 110), (70, 101.5), (80, 115)])  # 101.5: inside the deadband
    assert actions == [("raise", 0), ("update", 80)]


def test_restored_alarms_are_not_raised_again():
    engine = AlarmEngine([rule()])
    engine.restore_active([(1, "truck", 7)], 0.0)
    assert run(engine, [(10, 105), (20, 90)]) == [("clear", 20)]


def test_a_restored_alarm_that_stays_active_is_updated_with_its_value_after_the_update_interval():
    # A new worker restores open alarms without their reported value; the first update once the update
    # interval has passed must report the current value, not fail the tick (it failed every tick after).
    engine = AlarmEngine([rule()])
    engine.restore_active([(1, "truck", 7)], 0.0)
    assert run(engine, [(30, 105), (61, 106), (90, 106)]) == [("update", 61)]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "vibes"}, "kind 'vibes'"),
        ({"comparison": "!="}, "comparison '!='"),
        ({"limit": None}, "needs a finite limit"),
        ({"comparison": "in", "limit": None}, "at least one state"),
        ({"deadband": -1.0}, "deadband must be"),
        ({"unit_kind": "dragline"}, "unit kind 'dragline'"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_rule_and_field(overrides, message):
    with pytest.raises(RuleError, match=message) as error:
        rule(code="my_rule", **overrides)
    assert "my_rule" in str(error.value)


def test_every_default_rule_is_valid():
    for number, spec in enumerate(DEFAULT_RULES, start=1):
        states = frozenset(s for s in spec.get("states", "").split(",") if s)
        keys = (
            "code",
            "kind",
            "unit_kind",
            "field",
            "comparison",
            "limit",
            "deadband",
            "on_delay_s",
            "off_delay_s",
        )
        Rule(id=number, states=states, **{k: spec[k] for k in keys if k in spec})
    assert len({spec["code"] for spec in DEFAULT_RULES}) == len(DEFAULT_RULES)


def test_a_simulated_step_gives_observations_for_every_unit_kind():
    state = default_site(seed=3)
    result = step(state, 10.0)
    observed, live = observations(
        result.readings, capture(state), {t.id: t.fuel_tank_l for t in state.trucks}
    )
    assert set(observed) == {"truck", "crusher", "stockpile", "loader"}
    truck = next(iter(observed["truck"].values()))
    assert 0 < truck["fuel_pct"] <= 100
    assert all("queue_length" in row for row in observed["crusher"].values())
    assert all({"status", "queue_length"} <= set(row) for row in observed["loader"].values())
    assert live == {"truck": [], "crusher": [], "stockpile": []}


# Performance figures --------------------------------------------------------------------------------------


def test_the_alarm_rate_is_per_hour_per_operator_and_shelved_raises_are_not_annunciated():
    records = [AlarmRecord(("a", i), raised_s=i * 600.0, cleared_s=i * 600.0 + 60) for i in range(12)]
    records.append(AlarmRecord(("b", 0), raised_s=100.0, annunciated=False))
    figures = performance(records, start_s=0, end_s=7200, operators=2)
    assert figures.annunciated == 12 and figures.per_hour_per_operator == 3.0
    assert figures.verdict == "acceptable" and figures.flood_windows == 0


def test_more_than_ten_alarms_in_ten_minutes_is_a_flood_and_three_in_a_minute_chatter():
    records = [AlarmRecord(("flood", i), raised_s=1210.0 + i * 20) for i in range(11)]
    records += [
        AlarmRecord(("chatter",), raised_s=5000.0 + i * 25, cleared_s=5010.0 + i * 25) for i in range(3)
    ]
    figures = performance(records, start_s=0, end_s=7200)
    assert figures.peak_10min == 11 and figures.flood_windows >= 1
    assert figures.chattering == ["('chatter',)"]


def test_an_alarm_active_for_more_than_a_day_is_standing():
    records = [AlarmRecord(("old",), raised_s=0.0), AlarmRecord(("new",), raised_s=90_000.0)]
    figures = performance(records, start_s=80_000.0, end_s=100_000.0)
    assert [s["key"] for s in figures.standing] == ["('old',)"]


def test_performance_refuses_an_empty_period():
    with pytest.raises(ValueError, match="must end after it starts"):
        performance([], start_s=10.0, end_s=10.0)


def test_a_telemetry_state_rule_raises_when_the_unit_turns_stale_at_the_configured_silence():
    engine = AlarmEngine(
        [rule(kind="silence", field="telemetry", comparison="in", limit=None, states=frozenset({"stale"}))],
        stale_after_s=300,
    )
    engine.note_seen("truck", 7, 0.0)
    actions = []
    for clock_s in range(10, 400, 10):
        if clock_s == 350:
            engine.note_seen("truck", 7, 345.0)  # it speaks again: live, the alarm clears
        actions += [(t.action, t.value, clock_s) for t in engine.evaluate(clock_s, {}, {"truck": [7]})]
    assert actions == [("raise", "stale", 300), ("clear", "live", 350)]


def test_the_seeded_silence_rules_follow_the_telemetry_state():
    silent = [spec for spec in DEFAULT_RULES if spec["kind"] == "silence"]
    assert {spec["unit_kind"] for spec in silent} == {"truck", "crusher", "stockpile"}
    assert all(
        (spec["field"], spec["comparison"], spec["states"]) == ("telemetry", "in", "stale") for spec in silent
    )
