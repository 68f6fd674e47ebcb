"""Sensor anomaly detection: robust per-sensor checks plus an IsolationForest per equipment class.

Every check is causal (it uses only readings up to the one scored), so the same code scores a stored history
and the newest readings. Per sensor a small linear model first removes what the operating state explains
(a truck at speed vibrates more), then:

* level: deviation from the trailing 30-min median, and from the trailing 3-h median (slow drifts);
* rate: the change from the previous reading;
* noise: the median size of the changes over the last 10 min;
* stuck: the same value repeated exactly (real sensors always carry some noise);
* multivariate: an IsolationForest on all of a class's deviations together.

Each check's scale is learned from normal readings of training sites (a high quantile); a reading is flagged
when a check exceeds `margin` times its scale. Flags of one unit within a few minutes form one anomaly with
its time span, score and the sensors involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression

from analytics.ml.features import KEYS, _stacked_time, unit_keys

#: Sensors scored per kind and the operating-state columns that explain part of their value.
ANOMALY_SENSORS: dict[str, dict[str, tuple[str, ...]]] = {
    "truck": {
        "engine_temp_c": (),
        "vibration_mm_s": ("speed_kmh", "payload_t", "is_off"),
        "tyre_pressure_kpa": (),
    },
    "crusher": {
        "temperature_c": (),
        "vibration_mm_s": ("throughput_tph", "liner_wear_pct", "is_off"),
        "power_kw": ("throughput_tph", "liner_wear_pct", "is_off"),
    },
    "stockpile": {"level_t": ()},
}
#: Statuses in which a machine is switched off; its readings settle for a while after it restarts.
OFF_STATUSES = frozenset({"broken_down", "maintenance", "refuelling"})
#: Statuses in which a value legitimately sits still (a full pile is clipped at its capacity).
STILL_STATUSES = frozenset({"broken_down", "maintenance", "full", "empty"})
SETTLE = pd.Timedelta(minutes=30)  # readings this soon after an on/off change are not level-scored
SHORT_WINDOW, LONG_WINDOW, NOISE_WINDOW = "30min", "3h", "10min"
STUCK_MIN_READINGS = 3
CHECKS = ("level", "level_long", "rate", "noise")
MERGE_GAP = pd.Timedelta(minutes=3)
SCALE_QUANTILE = 0.9995


def _prepare(readings: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = unit_keys(readings, kind).sort_values([*KEYS, "ts"], kind="stable").reset_index(drop=True)
    status = frame["status"].astype("string")
    frame["is_off"] = status.isin(OFF_STATUSES).fillna(False).astype("float64").to_numpy()
    if kind == "stockpile":
        # The level moves by what flows in and out; what is left is the sensor's own behaviour.
        hours = frame.groupby(KEYS, sort=False)["ts"].diff().dt.total_seconds().fillna(0.0) / 3600.0
        net_t = (frame["fill_rate_tph"] - frame["discharge_rate_tph"]) * hours
        frame["level_t"] = frame["level_t"] - net_t.groupby([frame[k] for k in KEYS], sort=False).cumsum()
    return frame


def stuck_runs(values: pd.Series, groups: pd.Series, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of the run of exactly equal values ending at each row, and the row where the run began."""
    same = (values == values.groupby(groups, sort=False).shift()).to_numpy() & allowed
    run_id = np.cumsum(~same)
    run_len = pd.Series(1, index=values.index).groupby(run_id).cumsum().to_numpy()
    run_start = pd.Series(np.arange(len(values))).groupby(run_id).transform("min").to_numpy()
    return run_len, run_start


@dataclass
class AnomalyModel:
    """Learned context models, check scales and IsolationForest of one equipment class."""

    kind: str
    context: dict[str, LinearRegression] = field(default_factory=dict)
    scales: dict[str, dict[str, float]] = field(default_factory=dict)  # sensor → check → normal quantile
    forest: IsolationForest | None = None
    forest_scale: float = 1.0
    margin: float = 1.5
    forest_margin: float = 1.5
    use_forest: bool = True
    metadata: dict = field(default_factory=dict)

    @property
    def sensors(self) -> dict[str, tuple[str, ...]]:
        return ANOMALY_SENSORS[self.kind]

    def deviations(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Per reading and sensor: the raw check values (before scaling) and where scoring is allowed."""
        frame = _prepare(readings, self.kind)
        time_axis = _stacked_time(frame)
        groups = frame.groupby(KEYS, sort=False).ngroup()
        out = frame[[*KEYS, "ts", "status"]].copy()
        off = frame["is_off"].to_numpy() > 0
        changed = off != pd.Series(off).groupby(groups.to_numpy()).shift().fillna(
            off[0] if len(off) else False
        )
        ts_ns = frame["ts"].dt.as_unit("ns").astype("int64").to_numpy()
        changed_at = pd.Series(np.where(changed, ts_ns, np.nan))
        last_change = changed_at.groupby(groups.to_numpy()).ffill().to_numpy()
        settled = ~(ts_ns - last_change < SETTLE.value)
        out["scored"] = settled & ~off
        still = frame["status"].astype("string").isin(STILL_STATUSES).fillna(False).to_numpy()
        for sensor, context in self.sensors.items():
            value = frame[sensor].astype("float64")
            residual = value.to_numpy().copy()
            if context and sensor in self.context:
                residual -= self.context[sensor].predict(frame[list(context)].fillna(0.0).to_numpy())
            series = pd.Series(residual, index=time_axis)
            short = series.rolling(SHORT_WINDOW, closed="left", min_periods=5).median().to_numpy()
            long = series.rolling(LONG_WINDOW, closed="left", min_periods=30).median().to_numpy()
            step = pd.Series(residual).groupby(groups.to_numpy()).diff()
            # Median of the absolute changes: a burst of noise lifts it, the two edges of a spike do not.
            noise = (
                pd.Series(np.abs(step.to_numpy()), index=time_axis)
                .rolling(NOISE_WINDOW, min_periods=5)
                .median()
            )
            out[f"{sensor}__level"] = np.abs(residual - short)
            out[f"{sensor}__level_long"] = np.abs(residual - long)
            out[f"{sensor}__rate"] = np.abs(step.to_numpy())
            out[f"{sensor}__noise"] = noise.to_numpy()
            at_bound = (value == 0).to_numpy() | still
            run_len, run_start = stuck_runs(value, groups, ~at_bound)
            out[f"{sensor}__stuck"] = run_len
            out[f"{sensor}__stuck_start"] = frame["ts"].to_numpy()[run_start]
        return out

    def fit(self, readings: pd.DataFrame, labels: pd.DataFrame | None = None, seed: int = 0) -> AnomalyModel:
        """Learn context models and normal scales from readings (rows under known anomalies left out)."""
        frame = _prepare(readings, self.kind)
        normal = ~_under_labels(frame, labels)
        running = frame["is_off"].to_numpy() == 0
        for sensor, context in self.sensors.items():
            if context:
                rows = normal & np.isfinite(frame[sensor].to_numpy())
                x = frame.loc[rows, list(context)].fillna(0.0).to_numpy()
                self.context[sensor] = LinearRegression().fit(x, frame.loc[rows, sensor].to_numpy())
        deviations = self.deviations(readings)
        ok = normal & deviations["scored"].to_numpy() & running
        self.scales = {}
        for sensor in self.sensors:
            self.scales[sensor] = {}
            for check in CHECKS:
                values = deviations[f"{sensor}__{check}"].to_numpy()[ok]
                values = values[np.isfinite(values)]
                self.scales[sensor][check] = float(max(np.quantile(values, SCALE_QUANTILE), 1e-6))
        matrix = self._forest_matrix(deviations)
        fit_rows = np.flatnonzero(ok & np.isfinite(matrix).all(axis=1))
        rng = np.random.default_rng(seed)
        sample = rng.choice(fit_rows, size=min(len(fit_rows), 20_000), replace=False)
        self.forest = IsolationForest(n_estimators=100, random_state=seed).fit(matrix[sample])
        normal_scores = -self.forest.score_samples(matrix[fit_rows])
        self.forest_scale = float(np.quantile(normal_scores, SCALE_QUANTILE))
        return self

    def _forest_matrix(self, deviations: pd.DataFrame) -> np.ndarray:
        columns = [
            deviations[f"{sensor}__{check}"].to_numpy() / self.scales[sensor][check]
            for sensor in self.sensors
            for check in CHECKS
        ]
        return np.nan_to_num(np.column_stack(columns), nan=0.0)

    def score(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Per reading and sensor, the score of each check as a multiple of its alarm level (>= 1 flags)."""
        deviations = self.deviations(readings)
        scored = deviations["scored"].to_numpy()
        out = deviations[[*KEYS, "ts"]].copy()
        for sensor in self.sensors:
            for check in CHECKS:
                ratio = deviations[f"{sensor}__{check}"].to_numpy() / (
                    self.margin * self.scales[sensor][check]
                )
                out[f"{sensor}__{check}"] = np.where(scored, np.nan_to_num(ratio, nan=0.0), 0.0)
            out[f"{sensor}__stuck"] = deviations[f"{sensor}__stuck"].to_numpy() / STUCK_MIN_READINGS
            out[f"{sensor}__stuck_start"] = deviations[f"{sensor}__stuck_start"]
        if self.use_forest and self.forest is not None:
            matrix = self._forest_matrix(deviations)
            forest = -self.forest.score_samples(matrix) / (self.forest_margin * self.forest_scale)
            out["forest"] = np.where(scored, forest, 0.0)
        return out

    def detect(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Anomalies as events: KEYS, start, end, score, sensors (tuple), checks (tuple)."""
        return events_from_scores(self.score(readings), list(self.sensors))


def _under_labels(frame: pd.DataFrame, labels: pd.DataFrame | None) -> np.ndarray:
    """Rows of units during a labelled sensor anomaly (to keep them out of the 'normal' statistics)."""
    hit = np.zeros(len(frame), dtype=bool)
    if labels is None or labels.empty:
        return hit
    anomalies = labels.loc[labels["category"] == "sensor_anomaly"]
    keys = [k for k in KEYS if k in anomalies]
    index = frame[[*keys, "ts"]].reset_index()
    pairs = index.merge(anomalies[[*keys, "start", "end"]], on=keys)
    inside = (pairs["ts"] >= pairs["start"] - MERGE_GAP) & (pairs["ts"] <= pairs["end"] + MERGE_GAP)
    hit[pairs.loc[inside, "index"].to_numpy()] = True
    return hit


def events_from_scores(scores: pd.DataFrame, sensors: list[str]) -> pd.DataFrame:
    """Group flagged readings per unit into anomalies (gaps up to MERGE_GAP join), with span and sensors."""
    columns = [*KEYS, "start", "end", "score", "sensors", "checks"]
    parts = []
    for sensor in sensors:
        for check in (*CHECKS, "stuck"):
            ratio = scores[f"{sensor}__{check}"].to_numpy()
            flagged = ratio >= 1.0
            if flagged.any():
                start = scores["ts"].to_numpy()[flagged]
                if check == "stuck":
                    start = scores[f"{sensor}__stuck_start"].to_numpy()[flagged]
                parts.append(
                    scores.loc[flagged, KEYS].assign(
                        start=start, end=scores["ts"].to_numpy()[flagged], score=ratio[flagged],
                        sensor=sensor, check=check,
                    )
                )  # fmt: skip
    if "forest" in scores:
        flagged = scores["forest"].to_numpy() >= 1.0
        if flagged.any():
            level = np.column_stack([scores[f"{s}__level"].to_numpy() for s in sensors])
            top = np.asarray(sensors)[np.argmax(level[flagged], axis=1)]
            parts.append(
                scores.loc[flagged, KEYS].assign(
                    start=scores["ts"].to_numpy()[flagged], end=scores["ts"].to_numpy()[flagged],
                    score=scores["forest"].to_numpy()[flagged], sensor=top, check="forest",
                )
            )  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=columns)
    flags = pd.concat(parts, ignore_index=True).sort_values([*KEYS, "start"], kind="stable")
    reach = flags.groupby(KEYS, sort=False)["end"].cummax()
    previous = reach.groupby([flags[k] for k in KEYS], sort=False).shift()
    new_event = (previous.isna() | (flags["start"] > previous + MERGE_GAP)).to_numpy()
    flags["event"] = np.cumsum(new_event)
    events = flags.groupby("event", sort=False).agg(
        **{k: (k, "first") for k in KEYS},
        start=("start", "min"),
        end=("end", "max"),
        score=("score", "max"),
        sensors=("sensor", lambda s: tuple(sorted(set(s)))),
        checks=("check", lambda s: tuple(sorted(set(s)))),
    )
    return events.reset_index(drop=True)[columns]


def fit_anomaly_models(
    readings: dict[str, pd.DataFrame], labels: pd.DataFrame | None = None, seed: int = 0
) -> dict[str, AnomalyModel]:
    """One model per kind that has sensors to watch (trucks, crushers, stockpiles)."""
    return {
        kind: AnomalyModel(kind).fit(frame, labels, seed=seed)
        for kind, frame in readings.items()
        if kind in ANOMALY_SENSORS and len(frame)
    }


def detect_anomalies(models: dict[str, AnomalyModel], readings: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Anomalies of every kind in one frame (what the Django side stores and alerts on)."""
    parts = [models[kind].detect(frame) for kind, frame in readings.items() if kind in models and len(frame)]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=[*KEYS, "start", "end", "score", "sensors", "checks"])
    return pd.concat(parts, ignore_index=True)
