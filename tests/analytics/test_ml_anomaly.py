"""Anomaly scoring on hand-made series with a known spike and stuck segment, and event-level matching."""

import numpy as np
import pandas as pd

from analytics.ml.anomaly import AnomalyModel
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
