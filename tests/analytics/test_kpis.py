"""The pure KPI formulas (analytics.kpis.formulas), on numbers worked out by hand."""

import datetime as dt

import pytest

from analytics.kpis import formulas
from fleet.sim.schema import CrusherStatus, TruckStatus

HOUR = 3600.0
DAY = 24 * HOUR


def test_a_ratio_without_a_denominator_is_none_not_zero():
    assert formulas.ratio(5, 0) is None
    assert formulas.pct(1, 4) == 25.0
    assert formulas.minutes(600, 5) == 2.0


def test_truck_time_availability_and_utilisation():
    figures = formulas.truck_time(
        {"hauling": 3000, "waiting": 600, "maintenance": 300, "broken_down": 100}, units=1, window_s=4000
    )

    assert figures["physical_availability_pct"] == pytest.approx(90.0)
    assert figures["utilisation_pct"] == pytest.approx(100 * 3000 / 3600)
    assert figures["truck_hours"] == pytest.approx(4000 / 3600)
    assert figures["coverage_pct"] == pytest.approx(100.0)


# --- The time usage model on hand-computed histories


@pytest.mark.parametrize(("kind", "statuses"), [("truck", TruckStatus), ("crusher", CrusherStatus)])
def test_every_status_the_simulator_writes_has_a_time_category(kind, statuses):
    assert set(formulas.TIME_CATEGORIES[kind]) == {str(status) for status in statuses}


def test_a_truck_day_splits_into_the_gmg_buckets():
    # 24 h: 2 h service, 1 h breakdown, 3 h without assignment, 2 h queued, 0.5 h refuelling, 15.5 h in cycle
    day_s = {
        "maintenance": 2 * HOUR, "broken_down": 1 * HOUR, "waiting": 3 * HOUR, "queued_at_loader": 1.5 * HOUR,
        "queued_at_dump": 0.5 * HOUR, "refuelling": 0.5 * HOUR, "hauling": 6 * HOUR, "returning": 5 * HOUR,
        "loading": 3 * HOUR, "dumping": 1.5 * HOUR,
    }  # fmt: skip

    figures = formulas.truck_time(day_s, units=1, window_s=DAY)

    assert figures["time_usage_h"] == pytest.approx(
        {"calendar": 24, "downtime": 3, "planned_downtime": 2, "unplanned_downtime": 1, "available": 21,
         "standby": 3, "utilised": 18, "operating_delay": 2.5, "operating": 15.5}
    )  # fmt: skip
    assert figures["physical_availability_pct"] == pytest.approx(87.5)  # 21 / 24
    assert figures["use_of_availability_pct"] == pytest.approx(100 * 18 / 21)
    assert figures["utilisation_pct"] == figures["use_of_availability_pct"]
    assert figures["effective_utilisation_pct"] == pytest.approx(75.0)  # 18 / 24 = 87.5 % x 85.7 %
    assert figures["operating_share_pct"] == pytest.approx(100 * 15.5 / 18)


def test_queueing_lowers_neither_availability_nor_use_of_availability_but_the_operating_share():
    busy = formulas.truck_time({"hauling": 8 * HOUR, "queued_at_loader": 4 * HOUR}, units=1, window_s=DAY / 2)

    assert busy["physical_availability_pct"] == 100.0 and busy["use_of_availability_pct"] == 100.0
    assert busy["operating_share_pct"] == pytest.approx(100 * 8 / 12)


def test_a_starved_crusher_is_available_so_its_availability_is_not_its_oee_availability():
    # The case: 8 h running, 14 h idle (starved), 1 h blocked, 1 h planned service, 4,000 t/h rated
    day_s = {"running": 8 * HOUR, "idle": 14 * HOUR, "blocked": 1 * HOUR, "maintenance": 1 * HOUR}

    figures = formulas.crusher(state_s=day_s, tonnes_t=28_800, rated_tph=4000, window_s=DAY)

    assert figures["availability_pct"] == pytest.approx(100 * 23 / 24)  # only downtime is lost
    assert figures["physical_availability_pct"] == figures["availability_pct"]
    assert figures["use_of_availability_pct"] == pytest.approx(100 * 9 / 23)  # running + blocked of 23 h
    assert figures["effective_utilisation_pct"] == pytest.approx(100 * 9 / 24)
    assert figures["oee_availability_pct"] == pytest.approx(100 * 8 / 23)  # idle and blocked are OEE losses
    assert figures["performance_pct"] == pytest.approx(90.0)  # 28,800 t of 4,000 t/h x 8 h
    assert figures["oee_pct"] == pytest.approx(100 * 8 / 23 * 0.9)
    assert figures["throughput_tph"] == pytest.approx(1200.0)  # 28,800 t over 24 covered hours


def test_crusher_oee_leaves_planned_maintenance_out_and_counts_breakdowns():
    figures = formulas.crusher(
        state_s={"running": 5400, "maintenance": 1800}, tonnes_t=1350, rated_tph=1000, window_s=7200
    )
    broken = formulas.crusher(
        state_s={"running": 5400, "broken_down": 1800}, tonnes_t=1350, rated_tph=1000, window_s=7200
    )

    assert figures["oee_availability_pct"] == 100.0 and figures["availability_pct"] == 75.0
    assert broken["oee_availability_pct"] == 75.0 and broken["availability_pct"] == 75.0
    assert figures["performance_pct"] == pytest.approx(90.0)  # 1,350 t of 1,000 t/h x 1.5 h
    assert figures["oee_pct"] == pytest.approx(90.0) and broken["oee_pct"] == pytest.approx(67.5)
    assert figures["throughput_tph"] == 675.0
    assert formulas.OEE_LOSSES["availability"] == ("unplanned_downtime", "operating_delay", "standby")


def test_a_status_without_a_time_category_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="truck status 'teleporting' has no time category"):
        formulas.time_usage({"hauling": 60, "teleporting": 5}, "truck")
    with pytest.raises(ValueError, match="no time categories for equipment kind 'dozer'"):
        formulas.time_usage({"idle": 60}, "dozer")
    with pytest.raises(ValueError, match="negative time"):
        formulas.time_usage({"idle": -1}, "crusher")


def test_coverage_is_the_share_of_unit_time_that_holds_data():
    assert formulas.coverage(covered_s=2 * 600, units=2, window_s=DAY) == pytest.approx(600 / DAY)
    assert formulas.coverage(covered_s=0, units=0, window_s=DAY) is None
    with pytest.raises(ValueError, match="window"):
        formulas.coverage(covered_s=1, units=1, window_s=0)


def fresh_start(hours: float = 24.0) -> formulas.Aggregates:
    """Ten minutes of one truck and one crusher in a window of `hours`: 100 t moved, 150 t crushed."""
    return formulas.Aggregates(
        hours=hours,
        truck_state_s={"hauling": 400, "loading": 200},
        trucks_reporting=1,
        events={"ore_t": 100.0, "loads": 1, "dumps": 1, "trucks": 1, "loaders": 1},
        crushers=[
            {"id": 1, "name": "CR-01", "rated_tph": 1000.0, "tonnes_t": 150.0, "state_s": {"running": 600}}
        ],
    )


def test_a_fresh_start_gives_rates_over_its_ten_minutes_and_says_coverage_is_low():
    figures = formulas.mine_kpis(fresh_start())

    assert figures["production_rate_tph"] == pytest.approx(600.0)  # 100 t in 1/6 h, not 100 t / 24 h
    assert figures["crushers"]["throughput_tph"] == pytest.approx(900.0)
    coverage = figures["coverage"]
    assert coverage["pct"] == pytest.approx(100 * 600 / DAY) and coverage["covered_hours"] == pytest.approx(
        1 / 6
    )
    assert coverage["low"] is True and "0.7 % of the 24 h window" in coverage["note"]


def test_a_fully_covered_window_has_no_coverage_note():
    coverage = formulas.mine_kpis(fresh_start(hours=600 / HOUR))["coverage"]

    assert coverage["pct"] == pytest.approx(100.0)
    assert coverage["low"] is False and coverage["note"] is None


def test_a_window_without_readings_says_so():
    empty = formulas.mine_kpis(formulas.Aggregates(hours=12.0))

    assert empty["coverage"]["low"] is True and empty["coverage"]["note"] == "no readings in the 12 h window"
    assert empty["production_rate_tph"] is None and empty["trucks"]["physical_availability_pct"] is None


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


def test_shift_changes_follow_perth_time_across_the_utc_midnight():
    # 06:00 AWST is 22:00 UTC the day before; 18:00 AWST is 10:00 UTC
    morning = dt.datetime(2025, 3, 1, 21, 59, tzinfo=dt.UTC)  # 05:59 on 2 March in Perth: the night shift
    day = dt.datetime(2025, 3, 1, 22, 0, tzinfo=dt.UTC)

    assert formulas.shift_start(morning, "Australia/Perth") == dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)
    assert formulas.shift_start(day, "Australia/Perth") == day


def test_an_unknown_site_time_zone_is_an_error_that_names_it():
    with pytest.raises(ValueError, match="site time zone 'Pilbara/Nowhere' is not an IANA time zone"):
        formulas.shift_start(dt.datetime(2025, 3, 1, tzinfo=dt.UTC), "Pilbara/Nowhere")


def test_named_windows():
    now = dt.datetime(2025, 3, 8, 12, 0, tzinfo=dt.UTC)

    assert formulas.window("7d", now, "UTC") == (dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC), now)
