"""The pure KPI formulas (analytics.kpis.formulas), on numbers worked out by hand."""

import datetime as dt

import pytest

from analytics.kpis import formulas


def test_a_ratio_without_a_denominator_is_none_not_zero():
    assert formulas.ratio(5, 0) is None
    assert formulas.pct(1, 4) == 25.0
    assert formulas.minutes(600, 5) == 2.0


def test_truck_time_availability_and_utilisation():
    figures = formulas.truck_time({"hauling": 3000, "waiting": 600, "maintenance": 300, "broken_down": 100})

    assert figures["physical_availability_pct"] == pytest.approx(90.0)
    assert figures["utilisation_pct"] == pytest.approx(100 * 3000 / 3600)
    assert figures["truck_hours"] == pytest.approx(4000 / 3600)


def test_the_cycle_is_the_sum_of_its_parts():
    cycle = formulas.cycle_breakdown({"loading": 240, "hauling": 600, "returning": 360, "waiting": 999}, 2)

    assert cycle["load_min"] == 2.0 and cycle["haul_min"] == 5.0 and cycle["return_min"] == 3.0
    assert cycle["cycle_min"] == 10.0
    assert formulas.cycle_breakdown({}, 0)["cycle_min"] is None


@pytest.mark.parametrize(
    ("trucks", "loaders", "load", "cycle", "expected"),
    [(10, 2, 3.0, 15.0, 1.0), (6, 2, 3.0, 15.0, 0.6), (5, 0, 3.0, 15.0, None), (5, 1, 3.0, None, None)],
)
def test_match_factor(trucks, loaders, load, cycle, expected):
    value = formulas.match_factor(
        trucks=trucks, loaders=loaders, loader_cycle_min=load, truck_cycle_min=cycle
    )

    assert value == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("mean", "over_110", "over_120", "compliant"),
    [(0.99, 1, 0, True), (1.01, 1, 0, False), (0.99, 2, 0, False), (0.99, 1, 1, False)],
)
def test_payload_compliance_follows_the_10_10_20_policy(mean, over_110, over_120, compliant):
    result = formulas.payload_compliance(loads=10, mean_ratio=mean, over_110=over_110, over_120=over_120)

    assert result["compliant"] is compliant
    assert result["over_110_pct"] == 10.0 * over_110


def test_oee_is_availability_times_performance_times_quality():
    assert formulas.oee(0.9, 0.8, 0.95) == pytest.approx(0.684)
    assert formulas.oee(None, 0.8) is None


def test_crusher_kpis_exclude_planned_maintenance_from_availability():
    figures = formulas.crusher(
        total_s=7200, running_s=5400, maintenance_s=1800, tonnes_t=1350, rated_tph=1000
    )

    assert figures["availability_pct"] == 100.0
    assert figures["performance_pct"] == pytest.approx(90.0)  # 1,350 t of 1,000 t/h x 1.5 h
    assert figures["utilisation_pct"] == 75.0
    assert figures["throughput_tph"] == 675.0
    assert figures["oee_pct"] == pytest.approx(90.0)


def test_hours_of_cover():
    assert formulas.hours_of_cover(12_000, 1500) == 8.0
    assert formulas.hours_of_cover(12_000, 0) is None


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ("2025-03-01T09:00:00+00:00", "2025-03-01T06:00:00+00:00"),
        ("2025-03-01T19:30:00+00:00", "2025-03-01T18:00:00+00:00"),
        ("2025-03-01T02:00:00+00:00", "2025-02-28T18:00:00+00:00"),
    ],
)
def test_the_shift_window_starts_at_six_or_eighteen_local_time(now, start):
    assert formulas.shift_start(dt.datetime.fromisoformat(now), "UTC") == dt.datetime.fromisoformat(start)


def test_shifts_follow_the_site_time_zone():
    now = dt.datetime(2025, 3, 1, 0, 30, tzinfo=dt.UTC)  # 08:30 in Perth

    assert formulas.shift_start(now, "Australia/Perth") == dt.datetime(2025, 2, 28, 22, 0, tzinfo=dt.UTC)


def test_named_windows():
    now = dt.datetime(2025, 3, 8, 12, 0, tzinfo=dt.UTC)

    assert formulas.window("7d", now, "UTC") == (dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC), now)
