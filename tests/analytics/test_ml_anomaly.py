"""Anomaly scoring on hand-made series: a known spike and stuck segment, quantised sensors that repeat values,
slow gateways, sensors left out, an amplitude collapse and a drop; and event-level matching."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml.anomaly import AnomalyModel
from analytics.ml.artifacts import load_artifact, save_artifact
from analytics.ml.evaluate import anomaly_event_metrics
from analytics.ml.history import simulate_history

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def crusher_readings(minutes: int, seed: int, unit_id: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    throughput = 1000.0 + 300.0 * np.sin(np.arange(minutes) / 30.0)
    return pd.DataFrame(
        {
            "site_id": 1,
            "unit_kind": "crusher",
            "unit_id": unit_id,
            "ts": [T0 + pd.Timedelta(minutes=i) for i in range(minutes)],
            "status": "running",
            "throughput_tph": throughput,
            "liner_wear_pct": 40.0,
            "temperature_c": 60.0 + rng.normal(0, 0.5, minutes),
            "vibration_mm_s": 2.0 + 0.002 * throughput + rng.normal(0, 0.25, minutes),
            "power_kw": 100.0 + 0.1 * throughput + rng.normal(0, 6.0, minutes),
        }
    )


def labels(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"site_id": 1, "category": category, "label": label, "unit_kind": "crusher", "unit_id": 1,
             "sensors": (sensor,), "start": T0 + pd.Timedelta(minutes=a), "end": T0 + pd.Timedelta(minutes=b)}
            for category, label, sensor, a, b in rows
        ]
    )  # fmt: skip


def test_it_finds_a_spike_and_a_stuck_segment_with_their_span_and_sensor():
    model = AnomalyModel("crusher").fit(crusher_readings(2000, seed=1))
    readings = crusher_readings(600, seed=2)
    readings.loc[200:203, "temperature_c"] += 35.0  # a 4-minute spike
    readings.loc[400:429, "power_kw"] = readings.loc[400, "power_kw"]  # stuck for 30 minutes
    found = model.detect(readings)
    assert len(found) == 2
    spike, stuck = found.iloc[0], found.iloc[1]
    assert spike["sensors"] == ("temperature_c",) and spike["start"] == T0 + pd.Timedelta(minutes=200)
    assert spike["end"] <= T0 + pd.Timedelta(minutes=205)
    assert stuck["sensors"] == ("power_kw",) and "stuck" in stuck["checks"]
    assert stuck["start"] == T0 + pd.Timedelta(minutes=400) and stuck["end"] == T0 + pd.Timedelta(minutes=429)
    truth = labels(
        ("sensor_anomaly", "spike", "temperature_c", 200, 204),
        ("sensor_anomaly", "stuck", "power_kw", 400, 430),
    )
    assert anomaly_event_metrics(found, truth) | {"recall_by_label": None} == {
        "true_anomalies": 2, "detected_events": 2, "precision": 1.0, "recall": 1.0, "on_developing_fault": 0,
        "recall_by_label": None,
    }  # fmt: skip


def test_quiet_readings_raise_nothing():
    model = AnomalyModel("crusher").fit(crusher_readings(2000, seed=1))
    assert model.detect(crusher_readings(600, seed=3)).empty


def test_a_detection_on_a_developing_fault_is_left_out_of_precision():
    detected = pd.DataFrame(
        {"site_id": [1, 1], "unit_kind": "crusher", "unit_id": 1,
         "start": [T0 + pd.Timedelta(minutes=m) for m in (10, 500)],
         "end": [T0 + pd.Timedelta(minutes=m) for m in (12, 505)]}
    )  # fmt: skip
    truth = labels(
        ("sensor_anomaly", "spike", "power_kw", 9, 13), ("developing_fault", "bearing_wear", "", 300, 900)
    )
    result = anomaly_event_metrics(detected, truth)
    assert result["precision"] == 1.0 and result["on_developing_fault"] == 1 and result["recall"] == 1.0


def test_a_short_simulated_history_has_the_frames_the_database_gives():
    history = simulate_history(seed=3, days=0.25, trucks=4, crushers=1)
    trucks = history.readings["truck"]
    assert len(trucks) == 4 * 360 and trucks["ts"].is_monotonic_increasing is False
    assert {"site_id", "unit_kind", "unit_id", "ts", "status", "engine_temp_c"} <= set(trucks.columns)
    assert (
        trucks["ts"].dt.tz is not None
        and (trucks.groupby("unit_id")["ts"].diff().dropna() == pd.Timedelta(minutes=1)).all()
    )
    assert list(history.events.columns) == ["site_id", "ts", "kind", "unit_kind", "unit_id", "data"]
    assert {"fault_id", "category", "label", "sensors", "start", "end", "outcome"} <= set(
        history.labels.columns
    )


# Real sensors, synthesised: no real labelled series is available offline, so these series imitate what the
# issue met on real data (quantised values that repeat exactly, slow gateways, sensors left out).


def quantised_crusher(readings: int, seed: int, *, every: str = "1min", unit_id: int = 1) -> pd.DataFrame:
    """A crusher whose sensors report in fixed steps (an accelerometer-like vibration channel at 0.1 mm/s
    with noise of about one step, temperature at 0.5 °C, power at 5 kW), so exact repeats are common."""
    frame = crusher_readings(readings, seed, unit_id)
    frame["ts"] = T0 + pd.to_timedelta(np.arange(readings) * pd.Timedelta(every).value, unit="ns")
    rng = np.random.default_rng(seed + 100)
    frame["vibration_mm_s"] = 2.0 + 0.002 * frame["throughput_tph"] + rng.normal(0, 0.1, readings)
    for sensor, step in (("vibration_mm_s", 0.1), ("temperature_c", 0.5), ("power_kw", 5.0)):
        frame[sensor] = (frame[sensor] / step).round() * step
    return frame


def longest_run(values: pd.Series) -> int:
    return int(values.groupby((values != values.shift()).cumsum()).size().max())


def stuck_events(found: pd.DataFrame) -> pd.DataFrame:
    return found.loc[found["checks"].map(lambda checks: "stuck" in checks)]


def test_a_quantised_noisy_sensor_with_no_fault_raises_no_stuck_event():
    model = AnomalyModel("crusher").fit(quantised_crusher(3000, seed=1))
    quiet = quantised_crusher(2000, seed=4)
    assert longest_run(quiet["temperature_c"]) >= 5  # the old rule (3 equal readings) would have fired
    assert stuck_events(model.detect(quiet)).empty
    assert model.resolution["temperature_c"] == pytest.approx(0.5)
    assert model.resolution["vibration_mm_s"] == pytest.approx(0.1)
    assert model.stuck_readings["temperature_c"] > longest_run(quiet["temperature_c"])


def test_a_quantised_sensor_held_far_longer_than_its_runs_is_stuck():
    model = AnomalyModel("crusher").fit(quantised_crusher(3000, seed=1))
    readings = quantised_crusher(1000, seed=5)
    readings.loc[500:619, "vibration_mm_s"] = readings.loc[500, "vibration_mm_s"]  # held for two hours
    [stuck] = stuck_events(model.detect(readings)).itertuples()
    assert stuck.sensors == ("vibration_mm_s",) and stuck.start == T0 + pd.Timedelta(minutes=500)
    assert stuck.end >= T0 + pd.Timedelta(minutes=619)


@pytest.mark.parametrize("every", ["3min", "15min"])
def test_a_slow_gateway_fits_and_scores_at_its_own_cadence(every):
    model = AnomalyModel("crusher").fit(quantised_crusher(1500, seed=1, every=every))
    assert model.cadence_s["power_kw"] == pd.Timedelta(every).total_seconds()
    readings = quantised_crusher(600, seed=6, every=every)
    assert model.detect(readings).empty
    readings.loc[400:401, "temperature_c"] -= 20.0  # two readings far too cold
    [found] = model.detect(readings).itertuples()
    start = T0 + 400 * pd.Timedelta(every)
    assert found.sensors == ("temperature_c",) and found.start == start
    assert found.end <= start + 2 * pd.Timedelta(every)


def test_too_few_readings_is_a_clear_error_naming_the_sensor():
    with pytest.raises(
        ValueError, match=r"crusher sensor 'temperature_c': 40 normal readings .* at least 60"
    ):
        AnomalyModel("crusher").fit(crusher_readings(40, seed=1))


def test_sensors_absent_or_empty_are_not_monitored_and_gaps_are_skipped():
    training = crusher_readings(2000, seed=1).drop(columns=["power_kw"]).assign(temperature_c=np.nan)
    model = AnomalyModel("crusher").fit(training)
    assert model.not_monitored == ["temperature_c", "power_kw"] and list(model.sensors) == ["vibration_mm_s"]
    readings = crusher_readings(600, seed=2).drop(columns=["temperature_c"])
    readings.loc[readings.index % 7 == 0, "vibration_mm_s"] = np.nan  # a gateway that drops readings
    assert model.watched(readings) == ["vibration_mm_s"] and model.detect(readings).empty
    readings.loc[300:302, "vibration_mm_s"] += 6.0
    [found] = model.detect(readings).itertuples()
    assert found.sensors == ("vibration_mm_s",) and found.start == T0 + pd.Timedelta(minutes=300)


def test_a_sensor_the_model_watches_may_be_missing_when_scoring():
    model = AnomalyModel("crusher").fit(crusher_readings(2000, seed=1))
    readings = crusher_readings(600, seed=2).drop(columns=["power_kw"])
    readings.loc[200:203, "temperature_c"] += 35.0
    assert model.watched(readings) == ["temperature_c", "vibration_mm_s"]
    [found] = model.detect(readings).itertuples()
    assert found.sensors == ("temperature_c",)


def test_an_amplitude_collapse_to_a_third_is_detected():
    model = AnomalyModel("crusher").fit(crusher_readings(2000, seed=1))
    readings = crusher_readings(600, seed=2)
    expected = 2.0 + 0.002 * readings["throughput_tph"]
    collapsed = slice(300, 389)
    readings.loc[collapsed, "vibration_mm_s"] = (
        expected[collapsed] + (readings.loc[collapsed, "vibration_mm_s"] - expected[collapsed]) / 3.0
    )
    [found] = model.detect(readings).itertuples()
    assert found.sensors == ("vibration_mm_s",) and found.checks == ("calm",)
    assert T0 + pd.Timedelta(minutes=300) <= found.start <= found.end <= T0 + pd.Timedelta(minutes=400)


def test_a_drop_is_seen_against_its_own_scale_not_the_rises():
    """Power that jumps up now and then (a crusher taking a slab) but never down: a drop smaller than the
    jumps is still far outside anything normal on the low side."""
    training = crusher_readings(3000, seed=1)
    training.loc[training.index % 97 == 0, "power_kw"] += 60.0
    model = AnomalyModel("crusher").fit(training)
    scales = model.scales["power_kw"]
    assert scales["level_low"] < scales["level"] / 2
    readings = crusher_readings(600, seed=2)
    readings.loc[300:301, "power_kw"] -= 45.0
    found = model.detect(readings)
    assert len(found) == 1 and found.iloc[0]["sensors"] == ("power_kw",)
    assert found.iloc[0]["start"] == T0 + pd.Timedelta(minutes=300)


def test_a_fitted_model_round_trips_through_its_artifact(tmp_path):
    model = AnomalyModel("crusher").fit(quantised_crusher(2000, seed=1).drop(columns=["power_kw"]))
    loaded = load_artifact(tmp_path / "a.skops", save_artifact(model, tmp_path / "a.skops"))
    readings = quantised_crusher(600, seed=2)
    readings.loc[200:203, "temperature_c"] += 35.0
    pd.testing.assert_frame_equal(loaded.detect(readings), model.detect(readings))
    assert loaded.not_monitored == ["power_kw"] and loaded.cadence_s == model.cadence_s


def test_a_sensor_that_never_changed_in_training_fits_and_is_never_called_stuck():
    """A gateway reporting a fixed value for a sensor (a placeholder, a sensor it does not have) must not
    stop the fit; a value that never moves in training cannot be judged stuck later either."""
    training = crusher_readings(600, seed=3)
    training["temperature_c"] = 55.0
    model = AnomalyModel("crusher").fit(training)

    later = crusher_readings(600, seed=4)
    later["temperature_c"] = 55.0
    found = model.detect(later)
    assert not stuck_events(found)["sensors"].map(lambda sensors: "temperature_c" in sensors).any()
