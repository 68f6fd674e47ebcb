"""The ground truth and scoring of bench/bench_alarms_db.py: a bench that scores wrongly reports 100 % for
nothing, so its pure parts are tested like code. No database."""

from __future__ import annotations

from bench.bench_alarms_db import Expected, Raised, _bridge, _spells, score


def test_status_spells_run_from_the_first_reading_in_the_status_to_the_first_out_of_it():
    changes = [(0.0, "running"), (50.0, "blocked"), (90.0, "running"), (200.0, "blocked")]
    assert _spells(changes, "blocked") == [(50.0, 90.0), (200.0, None)]
    assert _spells(changes, "broken_down") == []


def test_spells_closer_than_the_off_delay_are_one_alarm():
    spans = [(50.0, 90.0), (120.0, 150.0), (300.0, None)]
    assert _bridge(spans, 30.0) == [(50.0, 150.0), (300.0, None)]
    assert _bridge(spans, 20.0) == spans


def test_the_score_counts_misses_duplicates_and_raises_and_clears_off_by_more_than_a_tick():
    expected = [
        Expected("r", "truck", 1, 100.0, 200.0),  # on time, one duplicate
        Expected("r", "truck", 2, 100.0, 200.0),  # raised 30 s late, cleared on time
        Expected("r", "truck", 3, 100.0, None),  # never raised
    ]
    alarms = [
        Raised("r", "truck", 1, 100.0, 200.0),
        Raised("r", "truck", 1, 150.0, 160.0),
        Raised("r", "truck", 2, 130.0, 210.0),
        Raised("r", "truck", 4, 500.0, None),  # nothing expected on truck 4
    ]
    result = score(expected, alarms, end_s=1000.0)
    assert result["recall_pct"] == round(200 / 3, 2)
    assert result["duplicates"] == 1
    assert result["raises_off_by_more_than_a_tick"] == 1
    assert result["clears_off_by_more_than_a_tick"] == 0
    assert result["unexplained_raises_of_covered_rules"] == 1
    assert [m["unit_id"] for m in result["missed"]] == [3]
