"""Maintenance features on small hand-made frames: exact window values, and no look-ahead."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml.features import build_features, maintenance_features, sensor_features

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def truck_readings(
    minutes: int, temp: list[float] | None = None, status: list[str] | None = None
) -> pd.DataFrame:
    ts = [T0 + pd.Timedelta(minutes=i) for i in range(minutes)]
    temp = temp if temp is not None else [80.0 + i for i in range(minutes)]
    return pd.DataFrame(
        {
            "site_id": 1,
            "unit_kind": "truck",
            "unit_id": 7,
            "ts": ts,
            "status": status or ["hauling"] * minutes,
            "speed_kmh": 30.0,
            "payload_t": 200.0,
            "fuel_l": [1000.0 - 3.0 * i for i in range(minutes)],
            "engine_temp_c": temp,
            "tyre_pressure_kpa": 700.0,
            "vibration_mm_s": 3.0,
            "engine_hours": [100.0 + i / 60 for i in range(minutes)],
        }
    )


def no_events() -> pd.DataFrame:
    return pd.DataFrame(columns=["site_id", "ts", "kind", "unit_kind", "unit_id", "data"])


def test_it_averages_trailing_time_windows_exactly():
    features = sensor_features(truck_readings(40), "truck")
    row = features.iloc[39]  # t = 39 min: the 30-min window holds minutes 10..39 (right-closed)
    assert row["engine_temp_c__mean_30min"] == pytest.approx(np.mean([80.0 + i for i in range(10, 40)]))
    assert row["engine_temp_c__mean_2h"] == pytest.approx(np.mean([80.0 + i for i in range(40)]))
    assert row["engine_temp_c__trend_30min_8h"] == pytest.approx(104.5 - 99.5)
    assert row["fuel_rate_lph__mean_30min"] == pytest.approx(180.0)  # 3 L per minute


def test_it_blanks_signals_while_the_truck_is_down():
    status = ["hauling"] * 5 + ["broken_down"] * 5
    features = sensor_features(truck_readings(10, status=status), "truck")
    assert features["engine_temp_c__mean_30min"].iloc[9] == pytest.approx(np.mean([80, 81, 82, 83, 84]))
    assert features["is_down"].tolist() == [False] * 5 + [True] * 5


def test_features_never_look_ahead():
    readings = truck_readings(120)
    full = sensor_features(readings, "truck")
    changed = readings.copy()
    changed.loc[60:, "engine_temp_c"] = 500.0  # rewrite the future
    cut = sensor_features(changed, "truck")
    columns = [c for c in full.columns if c not in ("site_id", "unit_kind", "unit_id", "ts", "is_down")]
    pd.testing.assert_frame_equal(full.loc[:59, columns], cut.loc[:59, columns])


def test_it_keeps_units_and_sites_apart():
    one = truck_readings(30, temp=[50.0] * 30)
    other = truck_readings(30, temp=[100.0] * 30).assign(site_id=2)
    features = sensor_features(pd.concat([other, one], ignore_index=True), "truck")
    means = features.groupby("site_id")["engine_temp_c__mean_8h"].agg(["min", "max"])
    assert means.loc[1].tolist() == [50.0, 50.0]
    assert means.loc[2].tolist() == [100.0, 100.0]


def test_hours_and_cycles_count_from_the_last_repair():
    readings = truck_readings(180)
    events = pd.DataFrame(
        {
            "site_id": 1,
            "ts": [T0 + pd.Timedelta(minutes=m) for m in (10, 20, 70, 100, 130)],
            "kind": ["loaded", "breakdown", "repaired", "loaded", "loaded"],
            "unit_kind": "truck",
            "unit_id": 7,
            "data": [{"payload_t": 200.0}, {}, {}, {"payload_t": 210.0}, {"payload_t": 190.0}],
        }
    )
    grid = sensor_features(readings, "truck")
    extra = maintenance_features(grid, events, "truck")
    assert np.isnan(extra["hours_since_repair"].iloc[60])  # no repair seen yet
    assert extra["hours_since_repair"].iloc[130] == pytest.approx(1.0)
    assert (
        extra["cycles_since_repair"].iloc[130] == 2
    )  # the load at exactly t counts, the one before repair not
    assert extra["tonnes_since_repair"].iloc[129] == pytest.approx(210.0)
    assert extra["cycles_24h"].iloc[179] == 3
    assert extra["engine_hours_since_repair"].iloc[130] == pytest.approx(1.0)


def test_a_service_record_before_the_history_makes_the_age_known_from_the_first_row():
    readings = truck_readings(180)
    events = pd.DataFrame(
        {
            "site_id": 1,
            "ts": [T0 - pd.Timedelta(hours=30), T0 + pd.Timedelta(minutes=70)],
            "kind": ["serviced", "repaired"],
            "unit_kind": "truck",
            "unit_id": 7,
            "data": [{"source": "maintenance record"}, {}],
        }
    )
    extra = maintenance_features(sensor_features(readings, "truck"), events, "truck")
    assert extra["hours_since_repair"].iloc[60] == pytest.approx(31.0)  # 30 h before the history, + 1 h
    assert extra["hours_since_repair"].iloc[130] == pytest.approx(1.0)  # a later repair takes over


def test_build_features_samples_the_grid():
    features = build_features(truck_readings(60), no_events(), "truck", every="10min")
    assert features["ts"].dt.minute.tolist() == [0, 10, 20, 30, 40, 50]


def test_a_loader_named_by_the_site_but_in_no_event_yet_gets_grid_rows():
    events = pd.DataFrame(
        {
            "site_id": 1,
            "ts": [T0 + pd.Timedelta(minutes=5)],
            "kind": ["loaded"],
            "unit_kind": "truck",
            "unit_id": 7,
            "data": [{"loader_id": 1, "payload_t": 200.0}],
        }
    )
    units = pd.DataFrame({"site_id": [1, 1], "unit_kind": "loader", "unit_id": [1, 2]})
    end = T0 + pd.Timedelta(minutes=30)

    from_events = build_features(None, events, "loader", start=T0, end=end)
    with_units = build_features(None, events, "loader", start=T0, end=end, units=units)

    assert set(from_events["unit_id"]) == {1}
    assert set(with_units["unit_id"]) == {1, 2}
    idle = with_units.loc[with_units["unit_id"] == 2]
    assert idle["cycles_24h"].tolist() == [0.0] * 4 and not idle["is_down"].any()
    busy = with_units.loc[with_units["unit_id"] == 1].reset_index(drop=True)
    pd.testing.assert_frame_equal(busy, from_events)


def test_loader_rows_come_whatever_the_time_resolution_of_the_event_log():
    """Events stamped to the nanosecond (a service record's odd seconds) meet a grid in microseconds."""
    events = pd.DataFrame(
        {
            "site_id": 1,
            "ts": pd.Series([T0 - pd.Timedelta(hours=50, microseconds=1)]).astype("datetime64[ns, UTC]"),
            "kind": ["serviced"],
            "unit_kind": "loader",
            "unit_id": 2,
            "data": [{}],
        }
    )
    start = pd.Timestamp("2026-01-01", tz="UTC").as_unit("us")
    features = build_features(None, events, "loader", start=start, end=start + pd.Timedelta(minutes=30))
    assert features["hours_since_repair"].tolist() == pytest.approx([50.0 + m / 60 for m in (0, 10, 20, 30)])


def crusher_readings(hours: int, rise_c: float = 0.0) -> pd.DataFrame:
    """A crusher whose feed swings between 200 and 1,000 t/h; temperature, vibration and power follow the
    feed in straight lines, temperature `rise_c` higher in the last quarter (a developing fault)."""
    minutes = hours * 60
    feed = 600.0 + 400.0 * np.sin(np.arange(minutes) / 17.0)
    rise = np.where(np.arange(minutes) >= 0.75 * minutes, rise_c, 0.0)
    return pd.DataFrame(
        {
            "site_id": 1,
            "unit_kind": "crusher",
            "unit_id": 3,
            "ts": [T0 + pd.Timedelta(minutes=i) for i in range(minutes)],
            "status": "running",
            "throughput_tph": feed,
            "temperature_c": 40.0 + 0.02 * feed + rise,
            "vibration_mm_s": 1.0 + 0.004 * feed,
            "power_kw": 150.0 + 0.3 * feed,
            "efficiency_pct": 90.0,
            "liner_wear_pct": 20.0,
        }
    )


def test_crusher_signals_are_read_at_no_load_whatever_the_feed():
    features = sensor_features(crusher_readings(12), "crusher")
    late = features.iloc[-1]
    assert late["temperature_c__at_no_load_8h"] == pytest.approx(40.0)
    assert late["vibration_mm_s__at_no_load_24h"] == pytest.approx(1.0)
    assert late["power_kw__at_no_load_8h"] == pytest.approx(150.0)
    # the raw level swings with the feed by 16 degC; the no-load level does not move at all
    assert np.ptp(features["temperature_c__mean_30min"].iloc[60:]) > 10.0
    assert np.ptp(features["temperature_c__at_no_load_8h"].iloc[60:]) == pytest.approx(0.0, abs=1e-6)


def test_a_fault_rise_shows_in_the_no_load_level_and_a_steady_feed_gives_none():
    healthy = sensor_features(crusher_readings(8), "crusher").iloc[-1]
    faulty = sensor_features(crusher_readings(8, rise_c=8.0), "crusher").iloc[-1]
    assert faulty["temperature_c__at_no_load_8h"] - healthy["temperature_c__at_no_load_8h"] > 1.0
    steady = crusher_readings(8).assign(throughput_tph=700.0)
    assert sensor_features(steady, "crusher")["temperature_c__at_no_load_8h"].isna().all()
