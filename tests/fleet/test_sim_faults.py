"""Failures foreshadowed in the readings, injected anomalies with ground truth, operator maintenance."""

import statistics
from collections import defaultdict

import pytest

from fleet.sim import FaultConfig, default_site, set_operator_status, step
from fleet.sim.faults import ANOMALY_FIELDS, ANOMALY_SCALE, WEAR_PER_SERVICE_HOUR, service_records
from fleet.sim.schema import CrusherStatus, TruckStatus

PRIMARY_SIGNAL = {
    "bearing_wear": "vibration_mm_s",
    "cooling_fault": "engine_temp_c",
    "tyre_damage": "tyre_pressure_kpa",
}


def run_with_failures(days: float, dt_s: float = 30.0):
    """A site with fast-wearing trucks and no injected anomalies: truck readings and breakdowns."""
    config = FaultConfig(truck_weibull_scale_h=25.0, anomaly_rate_per_unit_h=0.0)
    state = default_site(seed=31, config=config)
    series = defaultdict(list)  # truck id -> [(clock_s, row)]
    breakdowns, labels = [], []
    for _ in range(int(days * 86400 / dt_s)):
        result = step(state, dt_s)
        for row in result.readings["truck"]:
            series[row["id"]].append((state.clock_s, row))
        breakdowns += [e for e in result.events if e.kind == "breakdown" and e.unit_kind == "truck"]
        labels += result.labels
    return state, series, breakdowns, labels


def window(rows, start_s, end_s, field):
    return [row[field] for clock, row in rows if start_s <= clock < end_s and row["status"] != "broken_down"]


@pytest.mark.slow
def test_breakdowns_are_preceded_by_a_rise_in_the_wear_signals():
    _state, series, breakdowns, labels = run_with_failures(days=3.0)
    developing = [e for e in breakdowns if e.data["mode"] != "sudden_failure"]
    assert len(developing) >= 8
    started = {lb["fault_id"]: lb for lb in labels if lb["event"] == "started"}
    clear_4h_ahead = 0
    for event in developing:
        field = PRIMARY_SIGNAL[event.data["mode"]]
        onset_s = started[event.data["fault_id"]]["start_s"]
        rows = series[event.unit_id]
        baseline = window(rows, onset_s - 12 * 3600, onset_s, field) or window(rows, 0, onset_s, field)
        if len(baseline) < 50:
            continue  # failed too soon after a previous repair to have a healthy baseline
        mean, spread = statistics.fmean(baseline), statistics.pstdev(baseline) or 1.0
        last_hour = window(rows, event.clock_s - 3600, event.clock_s, field)
        assert abs(statistics.fmean(last_hour) - mean) > 3 * spread, (event.data, field)
        ahead = window(rows, event.clock_s - 5 * 3600, event.clock_s - 4 * 3600, field)
        if ahead and abs(statistics.fmean(ahead) - mean) > 1.5 * spread:
            clear_4h_ahead += 1
    assert clear_4h_ahead >= 0.5 * len(developing)


@pytest.mark.slow
def test_most_failures_develop_over_6_to_48_hours_and_about_a_tenth_are_sudden():
    _state, _series, breakdowns, labels = run_with_failures(days=4.0, dt_s=60.0)
    ended = [lb for lb in labels if lb["event"] == "ended" and lb["category"] != "sensor_anomaly"]
    developing = [lb for lb in ended if lb["category"] == "developing_fault" and lb["outcome"] == "breakdown"]
    sudden = [lb for lb in ended if lb["category"] == "sudden_failure"]
    assert len(developing) >= 10
    for lb in developing:
        assert 6 * 3600 - 120 <= lb["end_s"] - lb["start_s"] <= 48 * 3600 + 120
        assert lb["sensors"] or lb["unit_kind"] == "loader"  # loaders send no readings
    assert len(sudden) <= 0.35 * (len(sudden) + len(developing))
    assert len(breakdowns) == sum(
        1 for lb in ended if lb["unit_kind"] == "truck" and lb.get("outcome") == "breakdown"
    )


@pytest.mark.slow
def test_a_default_site_sees_a_handful_of_failures_a_day():
    state = default_site(seed=12, config=FaultConfig(anomaly_rate_per_unit_h=0.0))
    kinds = defaultdict(int)
    days = 6
    for _ in range(days * 1440):
        for event in step(state, 60.0).events:
            if event.kind == "breakdown":
                kinds[event.unit_kind] += 1
    per_day = sum(kinds.values()) / days
    assert 2 <= per_day <= 12, kinds
    truck_mtbf_h = len(state.trucks) * days * 24 / max(kinds["truck"], 1)
    assert 40 <= truck_mtbf_h <= 200, truck_mtbf_h


def test_injected_anomalies_are_labelled_and_stand_out_from_the_normal_readings():
    config = FaultConfig(anomaly_rate_per_unit_h=0.3, failures_enabled=False)
    state = default_site(seed=5, config=config)
    started, ended, deviations = {}, {}, defaultdict(list)
    normal_truck_temp = []
    for _ in range(4 * 360):
        result = step(state, 10.0)
        for lb in result.labels:
            (started if lb["event"] == "started" else ended)[lb["fault_id"]] = lb
        active = {
            (r["unit_kind"], r["unit_id"]): r
            for r in state.active_faults
            if r["category"] == "sensor_anomaly"
        }
        truck_by_id = {t.id: t for t in state.trucks}
        crusher_by_id = {c.id: c for c in state.crushers}
        for kind, true_by_id in (("truck", truck_by_id), ("crusher", crusher_by_id)):
            for row in result.readings[kind]:
                record = active.get((kind, row["id"]))
                if record is None:
                    if kind == "truck":
                        normal_truck_temp.append(row["engine_temp_c"] - true_by_id[row["id"]].engine_temp_c)
                    continue
                sensor = record["sensors"][0]
                deviations[record["fault_id"]].append(row[sensor] - getattr(true_by_id[row["id"]], sensor))
    assert len(started) >= 20
    for fault_id, lb in started.items():
        assert lb["sensors"][0] in ANOMALY_FIELDS[lb["unit_kind"]]
        assert 2 * 60 - 1 <= lb["end_s"] - lb["start_s"] <= 60 * 60 + 1
        if fault_id in ended:
            assert ended[fault_id]["end_s"] == lb["end_s"]
    noise = statistics.pstdev(normal_truck_temp)
    assert noise < 1.0
    for fault_id, devs in deviations.items():
        lb = started[fault_id]
        scale = ANOMALY_SCALE[lb["sensors"][0]]
        if lb["label"] == "spike":
            assert min(abs(d) for d in devs) > 4 * scale
        elif lb["label"] == "noise_burst" and len(devs) > 20:
            assert statistics.pstdev(devs) > 2 * scale
        elif lb["label"] == "drift" and len(devs) > 60:
            assert abs(devs[-1]) > 2 * scale


def test_a_stuck_sensor_repeats_one_value():
    config = FaultConfig(anomaly_rate_per_unit_h=0.5, failures_enabled=False)
    state = default_site(seed=2, config=config)
    values = defaultdict(list)
    for _ in range(3 * 360):
        result = step(state, 10.0)
        for record in state.active_faults:
            if record["label"] == "stuck":
                rows = result.readings[record["unit_kind"]]
                row = next(r for r in rows if r["id"] == record["unit_id"])
                values[record["fault_id"]].append(row[record["sensors"][0]])
    assert values
    for series in values.values():
        assert len(set(series)) == 1


def test_operator_maintenance_takes_a_truck_out_and_returns_it_as_good_as_new():
    state = default_site(seed=4)
    for _ in range(200):
        step(state, 10.0)
    truck = state.trucks[0]
    truck.wear_h = 60.0
    events = set_operator_status(state, "truck", truck.id, "maintenance")
    assert [e.kind for e in events] == ["maintenance_started"]
    assert truck.status == TruckStatus.MAINTENANCE
    position = (truck.lat, truck.lon)
    for _ in range(100):
        result = step(state, 10.0)
        assert all(truck.id not in ld.queue for ld in state.loaders)
    assert truck.status == TruckStatus.MAINTENANCE and (truck.lat, truck.lon) == position
    assert next(r for r in result.readings["truck"] if r["id"] == truck.id)["speed_kmh"] == 0.0
    events = set_operator_status(state, "truck", truck.id, "waiting")
    assert [e.kind for e in events] == ["maintenance_ended"]
    assert truck.wear_h == 0.0 and truck.health == 100.0 and truck.fault is None
    cycle = []
    for _ in range(200):
        events = step(state, 10.0).events
        cycle += [e.kind for e in events if e.unit_kind == "truck" and e.unit_id == truck.id]
    assert "loaded" in cycle and "dumped" in cycle[cycle.index("loaded") :], cycle  # a whole haul cycle again
    assert (truck.lat, truck.lon) != position and truck.wear_h > 0.0


def test_maintenance_during_a_developing_fault_ends_it_and_the_next_step_reports_the_label():
    config = FaultConfig(truck_weibull_scale_h=1.0, sudden_failure_share=0.0, anomaly_rate_per_unit_h=0.0)
    state = default_site(seed=7, config=config)
    truck = None
    for _ in range(2000):
        step(state, 10.0)
        truck = next((t for t in state.trucks if t.fault is not None), None)
        if truck is not None:
            break
    assert truck is not None
    fault_id = truck.fault["fault_id"]
    set_operator_status(state, "truck", truck.id, "maintenance")
    labels = step(state, 10.0).labels
    assert any(
        lb["fault_id"] == fault_id and lb["event"] == "ended" and lb["outcome"] == "maintenance"
        for lb in labels
    )
    assert all(r["fault_id"] != fault_id for r in state.active_faults)


def test_crusher_maintenance_changes_the_liners_and_restores_efficiency():
    state = default_site(seed=4)
    crusher = state.crushers[0]
    crusher.liner_wear_pct = 90.0
    step(state, 10.0)
    worn_efficiency = crusher.efficiency_pct
    set_operator_status(state, "crusher", crusher.id, "maintenance")
    step(state, 10.0)
    assert crusher.status == CrusherStatus.MAINTENANCE and crusher.power_kw == 0.0
    set_operator_status(state, "crusher", crusher.id, "idle")
    step(state, 10.0)
    assert crusher.liner_wear_pct < 1.0
    assert crusher.efficiency_pct > worn_efficiency + 20.0


def test_service_records_date_each_units_last_service_by_its_wear():
    state = default_site(seed=5)
    records = service_records(state)
    units = {"truck": state.trucks, "loader": state.loaders, "crusher": state.crushers}
    assert sorted((r.unit_kind, r.unit_id) for r in records) == sorted(
        (kind, unit.id) for kind, members in units.items() for unit in members
    )
    for record in records:
        unit = next(u for u in units[record.unit_kind] if u.id == record.unit_id)
        hours_ago = (state.clock_s - record.clock_s) / 3600.0
        assert record.kind == "serviced" and hours_ago >= 0.0
        assert hours_ago == pytest.approx(unit.wear_h / WEAR_PER_SERVICE_HOUR[record.unit_kind], abs=1 / 3600)
    loaders = sorted(state.loaders, key=lambda u: u.wear_h)
    dated = {r.unit_id: r.clock_s for r in records if r.unit_kind == "loader"}
    assert dated[loaders[-1].id] < dated[loaders[0].id]  # the most worn loader was serviced longest ago


def test_wear_per_service_hour_is_what_units_accrue_in_service():
    """The constants that date the service records match the engine's wear over a simulated day (±15 %)."""
    state = default_site(seed=11)
    units = {"truck": state.trucks, "loader": state.loaders, "crusher": state.crushers}
    worn = dict.fromkeys(units, 0.0)
    hours = dict.fromkeys(units, 0.0)
    for _ in range(24 * 60):
        before = {(kind, u.id): (u.wear_h, str(u.status)) for kind, members in units.items() for u in members}
        step(state, 60.0)
        for kind, members in units.items():
            for unit in members:
                wear, status = before[(kind, unit.id)]
                if unit.wear_h >= wear and "broken" not in status and status != "maintenance":
                    worn[kind] += unit.wear_h - wear
                    hours[kind] += 1 / 60
    for kind in units:
        assert worn[kind] / hours[kind] == pytest.approx(WEAR_PER_SERVICE_HOUR[kind], rel=0.15)
