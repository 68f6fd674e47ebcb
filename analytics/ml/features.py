"""Maintenance features per unit and time, built with pandas from the reading history and the event log.

Every feature at time t uses only rows with ts <= t (trailing time windows, as-of joins on the event log), so
the same code serves training (one row per unit every `every`) and live scoring (the latest row per unit).
Frames are the shapes of `analytics.ml.history`: readings per kind and the events frame; an optional
`site_id` column keeps units of different sites apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fleet.sim.faults import SERVICE_RECORD

#: Statuses in which a unit is out of service: no sensor features, no failure risk to predict.
DOWN_STATUSES = frozenset({"broken_down", "maintenance"})
#: Statuses whose readings do not describe the machine working (a stopped truck cools and stops vibrating).
IDLE_STATUSES = {"truck": DOWN_STATUSES | {"refuelling"}, "crusher": DOWN_STATUSES, "loader": DOWN_STATUSES}
#: Signals summarised per kind; fuel_rate_lph is derived from fuel_l.
SIGNALS: dict[str, tuple[str, ...]] = {
    "truck": (
        "engine_temp_c",
        "vibration_mm_s",
        "tyre_pressure_kpa",
        "payload_t",
        "speed_kmh",
        "fuel_rate_lph",
        "engine_temp_c_stopped",
        "vibration_mm_s_stopped",
        "tyre_pressure_kpa_stopped",
    ),
    "crusher": ("temperature_c", "vibration_mm_s", "power_kw", "efficiency_pct", "throughput_tph"),
    "loader": (),
}
#: Crusher signals that follow the feed rate, and the windows over which they are read at no load.
LOADED_SIGNALS = ("temperature_c", "vibration_mm_s", "power_kw")
LOAD_WINDOWS = ("8h", "24h")
#: Trailing windows: short (what is happening now), medium, and long (the unit's own recent baseline).
WINDOWS = ("30min", "2h", "8h", "24h")
STD_WINDOW = "2h"
KEYS = ["site_id", "unit_kind", "unit_id"]
#: Events after which a unit counts as serviced: repairs, maintenance, and its last service before the twin
#: began recording (fleet.sim.faults.service_records), which makes its age known from the first row.
REPAIR_EVENTS = ("repaired", "maintenance_ended", SERVICE_RECORD)
_GROUP_GAP = pd.Timedelta(days=30)  # units are laid end to end this far apart, beyond any window


def unit_keys(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """A copy with the key columns present (site_id 0 and unit_kind filled in when absent)."""
    out = frame.copy()
    if "site_id" not in out:
        out["site_id"] = 0
    if "unit_kind" not in out:
        out["unit_kind"] = kind
    return out


def _stacked_time(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """One monotone time axis for all units (frame sorted by KEYS, ts), each unit laid after the previous one
    with a gap longer than any window, so one rolling call serves every unit without mixing two of them."""
    group = frame.groupby(KEYS, sort=False).ngroup().to_numpy()
    ts_ns = frame["ts"].dt.as_unit("ns").astype("int64").to_numpy()
    if not len(ts_ns):
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    first = pd.Series(ts_ns).groupby(group).transform("min").to_numpy()
    span = pd.Series(ts_ns - first).groupby(group).max()
    starts = np.concatenate([[0], np.cumsum(span.to_numpy() + _GROUP_GAP.value)[:-1]])
    return pd.DatetimeIndex((ts_ns - first + starts[group]).astype("datetime64[ns]"))


def derive_signals(readings: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Readings sorted per unit with derived signals added and idle-state values blanked."""
    frame = unit_keys(readings, kind).sort_values([*KEYS, "ts"], kind="stable").reset_index(drop=True)
    if kind == "truck":
        hours = frame.groupby(KEYS, sort=False)["ts"].diff().dt.total_seconds() / 3600.0
        used_l = -frame.groupby(KEYS, sort=False)["fuel_l"].diff()
        frame["fuel_rate_lph"] = (used_l / hours).where(used_l >= 0)  # refuelling gives a negative use
        # Standing at a loader or dump the engine idles: far less spread from speed and grade, so a fault's
        # slow rise shows earlier in these readings than in the mix of the whole haul cycle.
        stopped = (frame["speed_kmh"] == 0).to_numpy()
        for signal in ("engine_temp_c", "vibration_mm_s", "tyre_pressure_kpa"):
            frame[f"{signal}_stopped"] = frame[signal].where(stopped)
    idle = frame["status"].astype("string").isin(IDLE_STATUSES[kind]).to_numpy()
    for signal in SIGNALS[kind]:
        frame[signal] = frame[signal].astype("float64").where(~idle)
    frame["is_down"] = frame["status"].astype("string").isin(DOWN_STATUSES).to_numpy()
    return frame


def sensor_features(readings: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rolling level, variability and trend of each signal, one row per reading row (same order)."""
    frame = derive_signals(readings, kind)
    out = frame[[*KEYS, "ts", "is_down"]].copy()
    signals = list(SIGNALS[kind])
    if not signals:
        return out
    values = frame[signals].set_axis(_stacked_time(frame))
    for window in WINDOWS:
        means = values.rolling(window, min_periods=1).mean().to_numpy()
        for i, signal in enumerate(signals):
            out[f"{signal}__mean_{window}"] = means[:, i]
    stds = values.rolling(STD_WINDOW, min_periods=3).std().to_numpy()
    for i, signal in enumerate(signals):
        out[f"{signal}__std_{STD_WINDOW}"] = stds[:, i]
        out[f"{signal}__trend_30min_8h"] = out[f"{signal}__mean_30min"] - out[f"{signal}__mean_8h"]
        out[f"{signal}__trend_2h_24h"] = out[f"{signal}__mean_2h"] - out[f"{signal}__mean_24h"]
    if kind == "crusher":
        # Liner wear explains part of the efficiency loss; the rest is the machine itself.
        out["liner_wear_pct"] = frame["liner_wear_pct"].to_numpy()
        explained = 1.0 - 0.30 * frame["liner_wear_pct"].to_numpy() / 100.0
        out["efficiency_vs_liner__mean_2h"] = out["efficiency_pct__mean_2h"] / explained
        for name, column in load_normalised(frame, values.index).items():
            out[name] = column
    if kind == "truck":
        out["engine_hours"] = frame["engine_hours"].to_numpy()
        # The largest payload seen marks the truck class (a 793F and a 777G run different tyres and loads).
        out["payload_t__max_24h"] = values["payload_t"].rolling("24h", min_periods=1).max().to_numpy()
    return out


def load_normalised(frame: pd.DataFrame, stacked: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Each LOADED_SIGNALS signal at no load, per unit and trailing window: the intercept of its straight-line
    fit on throughput over the window (rolling sums, one pass). A crusher's temperature, vibration and power
    rise with its feed, so a developing fault hides in the spread of the load; at a fixed load it stands out
    (load-normalised condition monitoring). NaN where the window's throughput barely varies."""
    both = frame[["throughput_tph", *LOADED_SIGNALS]].notna().all(axis=1)  # idle states are blanked already
    x = frame["throughput_tph"].astype("float64").where(both)
    columns = {"x": x, "xx": x * x}
    for signal in LOADED_SIGNALS:
        columns[signal] = frame[signal].astype("float64").where(both)
        columns[f"{signal}*x"] = columns[signal] * x
    sums = pd.DataFrame(columns).set_axis(stacked)
    out = {}
    for window in LOAD_WINDOWS:
        means = sums.rolling(window, min_periods=10).mean()
        variance = means["xx"] - means["x"] ** 2
        varies = (variance > (0.05 * means["x"].abs() + 1.0) ** 2).to_numpy()
        for signal in LOADED_SIGNALS:
            slope = (means[f"{signal}*x"] - means["x"] * means[signal]) / variance
            at_no_load = (means[signal] - slope * means["x"]).to_numpy()
            out[f"{signal}__at_no_load_{window}"] = np.where(varies, at_no_load, np.nan)
    return out


def _on_grid_times(times: pd.Series, grid: pd.DataFrame) -> pd.Series:
    """Event times in the grid's resolution: merge_asof refuses keys of different units (an event log read
    with nanoseconds, a grid built in microseconds)."""
    return pd.to_datetime(times, utc=True).astype(grid["ts"].dtype)


def _last_event_ts(grid: pd.DataFrame, events: pd.DataFrame, kinds: tuple[str, ...]) -> pd.Series:
    """For each grid row, the time of the latest event of `kinds` on that unit at or before the row's ts."""
    marks = events.loc[events["kind"].isin(kinds), [*KEYS, "ts"]].rename(columns={"ts": "event_ts"})
    left = grid[[*KEYS, "ts"]].reset_index().sort_values("ts", kind="stable")
    if marks.empty:
        return pd.Series(pd.NaT, index=grid.index, dtype=grid["ts"].dtype)
    marks["event_ts"] = _on_grid_times(marks["event_ts"], grid)
    marks = marks.sort_values("event_ts", kind="stable")
    marks["ts"] = marks["event_ts"]
    joined = pd.merge_asof(left, marks, on="ts", by=KEYS, direction="backward")
    return joined.set_index("index")["event_ts"].reindex(grid.index)


def _cumulative_at(grid: pd.DataFrame, marks: pd.DataFrame, at: pd.Series, value: str) -> np.ndarray:
    """Cumulative sum of marks[value] per unit up to time `at` (NaT → NaN) for each grid row."""
    if marks.empty:
        return np.zeros(len(grid))
    marks = marks.sort_values("ts", kind="stable").copy()
    marks["ts"] = _on_grid_times(marks["ts"], grid)
    marks["cum"] = marks.groupby(KEYS, sort=False)[value].cumsum()
    left = grid[KEYS].assign(ts=at.array).reset_index()
    known = left["ts"].notna()
    result = np.full(len(grid), np.nan)
    part = left.loc[known].sort_values("ts", kind="stable")
    joined = pd.merge_asof(part, marks[[*KEYS, "ts", "cum"]], on="ts", by=KEYS, direction="backward")
    result[joined["index"].to_numpy()] = joined["cum"].fillna(0.0).to_numpy()
    return result


def _work_marks(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Work as (keys, ts, cycles, tonnes) rows: trucks' loads, loaders' trucks loaded, crushers' tips."""
    loaded = events["kind"] == "loaded"
    if kind == "truck":
        rows = events.loc[loaded]
        unit_id = rows["unit_id"]
    elif kind == "loader":
        rows = events.loc[loaded]
        unit_id = rows["data"].map(lambda d: d.get("loader_id"))
    else:
        rows = events.loc[events["kind"] == "dumped"]
        at_crusher = rows["data"].map(lambda d: d.get("destination_kind") == "crusher")
        rows = rows.loc[at_crusher]
        unit_id = rows["data"].map(lambda d: d.get("destination_id"))
    return pd.DataFrame(
        {
            "site_id": rows["site_id"].to_numpy(),
            "unit_kind": kind,
            "unit_id": unit_id.astype("int64").to_numpy(),
            "ts": rows["ts"].to_numpy(),
            "cycles": 1.0,
            "tonnes": rows["data"].map(lambda d: float(d.get("payload_t", 0.0))).to_numpy(),
        }
    )


def maintenance_features(grid: pd.DataFrame, events: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Hours and work since the last repair/maintenance seen (NaN before the first one in the history)."""
    events = unit_keys(events, kind)
    own = events.loc[events["unit_kind"] == kind]
    last_repair = _last_event_ts(grid, own, REPAIR_EVENTS)
    out = pd.DataFrame(index=grid.index)
    out["hours_since_repair"] = (grid["ts"] - last_repair).dt.total_seconds() / 3600.0
    work = _work_marks(events, kind)
    for column in ("cycles", "tonnes"):
        now = _cumulative_at(grid, work, grid["ts"], column)
        then = _cumulative_at(grid, work, last_repair, column)
        out[f"{column}_since_repair"] = now - then
        day_ago = _cumulative_at(grid, work, grid["ts"] - pd.Timedelta(hours=24), column)
        out[f"{column}_24h"] = now - day_ago
    if "engine_hours" in grid:
        at_repair = grid[[*KEYS, "engine_hours"]].assign(ts=grid["ts"]).dropna()
        hours_then = _value_at(grid, at_repair, last_repair, "engine_hours")
        out["engine_hours_since_repair"] = grid["engine_hours"].to_numpy() - hours_then
    return out


def _value_at(grid: pd.DataFrame, series: pd.DataFrame, at: pd.Series, value: str) -> np.ndarray:
    left = grid[KEYS].assign(ts=at.array).reset_index()
    known = left["ts"].notna()
    result = np.full(len(grid), np.nan)
    part = left.loc[known].sort_values("ts", kind="stable")
    right = series.sort_values("ts", kind="stable")[[*KEYS, "ts", value]]
    joined = pd.merge_asof(part, right, on="ts", by=KEYS, direction="forward")
    result[joined["index"].to_numpy()] = joined[value].to_numpy()
    return result


def unit_grid(
    events: pd.DataFrame,
    kind: str,
    start: pd.Timestamp,
    end: pd.Timestamp,
    every: str,
    units: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A regular time grid for units without readings (loaders), with is_down from breakdown/repair events.

    The units are those the event log names, plus `units` (KEYS columns): a loader that has loaded no truck
    yet (a site minutes old) is in no event, yet is in service and must be scored."""
    events = unit_keys(events, kind)
    own = events.loc[events["unit_kind"] == kind, KEYS].drop_duplicates()
    work = _work_marks(events, kind)[KEYS].drop_duplicates()
    known = [] if units is None else [unit_keys(units, kind)[KEYS].astype(own.dtypes.to_dict())]
    units = pd.concat([own, work, *known]).drop_duplicates().sort_values(KEYS)
    times = pd.date_range(start.ceil(every), end, freq=every)
    grid = units.merge(pd.DataFrame({"ts": times}), how="cross").sort_values([*KEYS, "ts"])
    grid = grid.reset_index(drop=True)
    last_down = _last_event_ts(
        grid, events.loc[events["unit_kind"] == kind], ("breakdown", "maintenance_started")
    )
    last_up = _last_event_ts(grid, events.loc[events["unit_kind"] == kind], REPAIR_EVENTS)
    grid["is_down"] = (last_down.notna() & (last_up.isna() | (last_up < last_down))).to_numpy()
    return grid


def build_features(
    readings: pd.DataFrame | None,
    events: pd.DataFrame,
    kind: str,
    every: str | None = "10min",
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    units: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Feature rows (KEYS, ts, is_down, features...) on the `every` grid, or at every reading when None.

    Loaders have no readings: pass readings=None with the history's start/end to get event-only features,
    and `units` (KEYS columns) for units the event log may not name yet (see unit_grid).
    """
    if kind == "loader" or readings is None:
        if start is None or end is None:
            raise ValueError("units without readings need the history's start and end")
        grid = unit_grid(events, kind, start, end, every or "10min", units)
    else:
        grid = sensor_features(readings, kind)
        if every is not None:
            grid = grid.loc[(grid["ts"] == grid["ts"].dt.floor(every)).to_numpy()].reset_index(drop=True)
    extra = maintenance_features(grid, events, kind)
    return pd.concat([grid, extra], axis=1)


def latest_rows(features: pd.DataFrame) -> pd.DataFrame:
    """The newest feature row of each unit: what live scoring works on."""
    return features.sort_values("ts", kind="stable").groupby(KEYS, sort=False).tail(1).reset_index(drop=True)


def feature_columns(features: pd.DataFrame) -> list[str]:
    return [c for c in features.columns if c not in (*KEYS, "ts", "is_down")]
