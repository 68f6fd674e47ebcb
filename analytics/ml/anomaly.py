"""Sensor anomaly detection: robust per-sensor checks plus an IsolationForest per equipment class.

Every check is causal (it uses only readings up to the one scored), so the same code scores a stored history
and the newest readings. Per sensor a small linear model first removes what the operating state explains
(a truck at speed vibrates more), then, each with its own scale for rises and for drops:

* level: deviation from the trailing short median, and from the trailing long median (slow drifts);
* rate: the change from the previous reading;
* noise: the median size of the changes over the noise window (a burst of noise);
* calm: the spread over the short window fell far below any normal spread (an amplitude collapse);
* stuck: one value held for far longer than the sensor's own runs in training (real sensors are quantised
  and repeat exact values, so repeating alone means nothing);
* multivariate: an IsolationForest on all of a class's deviations together.

Real gateways report at any interval (a second to 15 minutes) and leave sensors out, so fit learns each
sensor's cadence (median interval) and resolution (smallest step between distinct values): windows are
durations stretched to hold enough readings at that cadence, NaN readings are skipped, and a sensor absent or
all-NaN is not monitored. Each check's scale is learned from normal readings of training sites (a high
quantile, a low one for calm); a reading is flagged when a check passes its scale by `margin`. Flags of one
unit within a few readings form one anomaly with its time span, score and the sensors involved.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression

from analytics.ml.features import KEYS, _stacked_time, unit_keys
from analytics.ml.sensor_profile import (
    DEFAULT_CADENCE_S,
    STUCK_MIN_READINGS,
    WINDOWS,
    learn_cadence_s,
    learn_resolution,
    stuck_limit,
    stuck_runs,
    window,
)

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
#: Each sensor needs this many normal running readings to learn its scales from.
MIN_FIT_READINGS = 60
#: Checks scored per sensor; FOREST_CHECKS feed the IsolationForest (the layout its first version had).
CHECKS = ("level", "level_long", "rate", "noise", "calm")
FOREST_CHECKS = ("level", "level_long", "rate", "noise")
TWO_SIDED = ("level", "level_long", "rate")
#: A two-sided check keeps a scale per side only when one is this many times the other: a 0.025 % tail of a
#: few site-weeks is a rough estimate, and a unit unlike the training ones errs both ways.
SIDE_RATIO = 2.0
MERGE_GAP = pd.Timedelta(minutes=3)
MERGE_READINGS = 3  # at a slow cadence flags this many readings apart still join
SCALE_QUANTILE = 0.9995
SIDE_QUANTILE = 1.0 - (1.0 - SCALE_QUANTILE) / 2  # each side of a two-sided check gets half the tail
CALM_MAX_SCORE = 10.0


def _prepare(readings: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame = unit_keys(readings, kind)
    if "status" not in frame:
        frame["status"] = "running"  # a gateway without a status column: every reading counts as running
    frame = frame.sort_values([*KEYS, "ts"], kind="stable").reset_index(drop=True)
    status = frame["status"].astype("string")
    frame["is_off"] = status.isin(OFF_STATUSES).fillna(False).astype("float64").to_numpy()
    if kind == "stockpile" and {"level_t", "fill_rate_tph", "discharge_rate_tph"} <= set(frame):
        # The level moves by what flows in and out; what is left is the sensor's own behaviour.
        hours = frame.groupby(KEYS, sort=False)["ts"].diff().dt.total_seconds().fillna(0.0) / 3600.0
        net_t = (frame["fill_rate_tph"] - frame["discharge_rate_tph"]).fillna(0.0) * hours
        frame["level_t"] = frame["level_t"] - net_t.groupby([frame[k] for k in KEYS], sort=False).cumsum()
    return frame


def _sensor_values(frame: pd.DataFrame, sensor: str, kind: str) -> np.ndarray | None:
    """The sensor's readings as floats (NaN where missing), or None when the column is absent."""
    if sensor not in frame:
        return None
    try:
        return frame[sensor].astype("float64").to_numpy()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{kind} sensor {sensor!r}: readings must be numbers or empty (NaN): {exc}") from exc


@dataclass
class AnomalyModel:
    """Context models, scales, cadences, resolutions and IsolationForest of one equipment class."""

    kind: str
    context: dict[str, LinearRegression] = field(default_factory=dict)
    scales: dict[str, dict[str, float]] = field(default_factory=dict)  # sensor → check → normal quantile
    forest: IsolationForest | None = None
    forest_scale: float = 1.0
    margin: float = 1.5
    forest_margin: float = 1.5
    use_forest: bool = True
    metadata: dict = field(default_factory=dict)
    context_columns: dict[str, list[str]] = field(default_factory=dict)  # sensor → context columns fitted
    cadence_s: dict[str, float] = field(default_factory=dict)  # sensor → median interval between readings
    resolution: dict[str, float] = field(default_factory=dict)  # sensor → smallest step between values
    stuck_readings: dict[str, float] = field(default_factory=dict)  # sensor → held readings that are stuck
    not_monitored: list[str] = field(default_factory=list)  # sensors absent or empty in the training data

    @property
    def sensors(self) -> dict[str, tuple[str, ...]]:
        """The kind's sensors this model watches (those with readings when it was fitted)."""
        return {s: c for s, c in ANOMALY_SENSORS[self.kind].items() if s not in self.not_monitored}

    def watched(self, readings: pd.DataFrame) -> list[str]:
        """Sensors scored in these readings: watched by the model and present with at least one value (and
        the context columns the model needs); the others are not monitored there."""
        return [
            s for s in self.sensors
            if s in readings and readings[s].notna().any() and self._context_of(s, readings) is not None
        ]  # fmt: skip

    def _context_of(self, sensor: str, frame: pd.DataFrame) -> list[str] | None:
        columns = self.context_columns.get(sensor, list(ANOMALY_SENSORS[self.kind][sensor]))
        if sensor in self.context and any(c not in frame and c != "is_off" for c in columns):
            return None  # the context the model removes is unknown: scoring the raw value would mislead
        return columns

    def _cadence(self, sensor: str) -> float:
        return float(self.cadence_s.get(sensor, DEFAULT_CADENCE_S))

    def deviations(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Per reading and sensor: the raw check values (signed where two-sided, before scaling) and where
        scoring is allowed. A sensor's NaN readings and sensors not monitored get NaN."""
        return self._deviations(_prepare(readings, self.kind))

    def _deviations(self, frame: pd.DataFrame) -> pd.DataFrame:
        time_axis = _stacked_time(frame)
        groups = frame.groupby(KEYS, sort=False).ngroup().to_numpy()
        out = frame[[*KEYS, "ts", "status"]].copy()
        off = frame["is_off"].to_numpy() > 0
        changed = off != pd.Series(off).groupby(groups).shift().fillna(off[0] if len(off) else False)
        ts_ns = frame["ts"].dt.as_unit("ns").astype("int64").to_numpy()
        changed_at = pd.Series(np.where(changed, ts_ns, np.nan))
        last_change = changed_at.groupby(groups).ffill().to_numpy()
        settled = ~(ts_ns - last_change < SETTLE.value)
        out["scored"] = settled & ~off
        still = frame["status"].astype("string").isin(STILL_STATUSES).fillna(False).to_numpy()
        columns: dict[str, np.ndarray] = {}
        for sensor in self.sensors:
            columns |= self._sensor_checks(frame, sensor, time_axis, groups, still)
        return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)

    def _sensor_checks(
        self,
        frame: pd.DataFrame,
        sensor: str,
        time_axis: pd.DatetimeIndex,
        groups: np.ndarray,
        still: np.ndarray,
    ) -> dict[str, np.ndarray | pd.Series]:
        """One sensor's checks computed on its own readings only (NaN rows skipped), laid back on all rows."""
        n = len(frame)
        out = {
            f"{sensor}__{c}": np.full(n, np.nan) for c in ("level", "level_long", "rate", "noise", "spread")
        }
        out[f"{sensor}__stuck"] = np.zeros(n)
        start_row = np.arange(n)
        out[f"{sensor}__holdable"] = np.zeros(n, dtype=bool)
        value = _sensor_values(frame, sensor, self.kind)
        context = self._context_of(sensor, frame)
        if value is None or context is None:
            out[f"{sensor}__stuck_start"] = frame["ts"]
            return out
        rows = np.flatnonzero(np.isfinite(value))
        if not len(rows):
            out[f"{sensor}__stuck_start"] = frame["ts"]
            return out
        v, g, t = value[rows], groups[rows], time_axis[rows]
        residual = v.copy()
        if context and sensor in self.context:
            x = frame[list(context)].iloc[rows].astype("float64").fillna(0.0).to_numpy()
            residual -= self.context[sensor].predict(x)
        cadence = self._cadence(sensor)
        series = pd.Series(residual, index=t)

        def trailing(name: str, data: pd.Series = series, **kwargs) -> pd.core.window.Rolling:
            return data.rolling(window(name, cadence), min_periods=WINDOWS[name][1], **kwargs)

        step = pd.Series(residual).groupby(g, sort=False).diff().to_numpy()
        out[f"{sensor}__level"][rows] = residual - trailing("short", closed="left").median().to_numpy()
        out[f"{sensor}__level_long"][rows] = residual - trailing("long", closed="left").median().to_numpy()
        out[f"{sensor}__rate"][rows] = step
        # Median of the absolute changes: a burst of noise lifts it, the two edges of a spike do not.
        out[f"{sensor}__noise"][rows] = (
            trailing("noise", pd.Series(np.abs(step), index=t)).median().to_numpy()
        )
        out[f"{sensor}__spread"][rows] = trailing("spread").std().to_numpy()
        holdable = (v != 0) & ~still[rows]  # a value at rest or a unit down legitimately holds still
        run_len, run_start = stuck_runs(pd.Series(v), pd.Series(g), holdable)
        out[f"{sensor}__stuck"][rows] = run_len
        start_row[rows] = rows[run_start]
        out[f"{sensor}__stuck_start"] = frame["ts"].iloc[start_row].set_axis(frame.index)
        out[f"{sensor}__holdable"][rows] = holdable
        return out

    def fit(self, readings: pd.DataFrame, labels: pd.DataFrame | None = None, seed: int = 0) -> AnomalyModel:
        """Learn each sensor's cadence, resolution, context model, normal scales and longest held runs from
        readings (rows under known anomalies left out). Sensors absent or all-NaN are not monitored."""
        frame = _prepare(readings, self.kind)
        groups = frame.groupby(KEYS, sort=False).ngroup().to_numpy()
        normal = ~_under_labels(frame, labels)
        running = frame["is_off"].to_numpy() == 0
        self.context, self.context_columns, self.cadence_s, self.resolution = {}, {}, {}, {}
        self.not_monitored = []
        for sensor, context in ANOMALY_SENSORS[self.kind].items():
            value = _sensor_values(frame, sensor, self.kind)
            finite = np.isfinite(value) if value is not None else np.zeros(len(frame), dtype=bool)
            if not finite.any():
                self.not_monitored.append(sensor)
                continue
            usable = int((finite & normal & running).sum())
            if usable < MIN_FIT_READINGS:
                raise ValueError(
                    f"{self.kind} sensor {sensor!r}: {usable} normal readings of a running unit to learn "
                    f"from, at least {MIN_FIT_READINGS} are needed (leave the column out, or empty, to not "
                    "monitor it)"
                )
            self.cadence_s[sensor] = learn_cadence_s(frame["ts"][finite], groups[finite])
            self.resolution[sensor] = learn_resolution(value[finite])
            columns = [c for c in context if c in frame and frame[c].notna().any()]
            self.context_columns[sensor] = columns
            if columns:
                rows = normal & finite
                x = frame.loc[rows, columns].astype("float64").fillna(0.0).to_numpy()
                self.context[sensor] = LinearRegression().fit(x, value[rows])
        if not self.sensors:
            raise ValueError(
                f"{self.kind}: none of its sensors ({', '.join(ANOMALY_SENSORS[self.kind])}) has a reading"
            )
        deviations = self._deviations(frame)
        ok = normal & deviations["scored"].to_numpy() & running
        self.scales, self.stuck_readings = {}, {}
        for sensor in self.sensors:
            self.scales[sensor] = self._learn_scales(sensor, deviations, ok)
            holdable = ok & deviations[f"{sensor}__holdable"].to_numpy()
            runs = deviations[f"{sensor}__stuck"].to_numpy()[holdable]
            longest = float(runs.max()) if len(runs) else 1.0
            repeat_share = float(np.mean(runs > 1)) if len(runs) else 0.0
            self.stuck_readings[sensor] = stuck_limit(longest, repeat_share)
        self.metadata["not_monitored"] = list(self.not_monitored)
        matrix = self._forest_matrix(deviations)
        fit_rows = np.flatnonzero(ok & np.isfinite(matrix).all(axis=1))
        rng = np.random.default_rng(seed)
        sample = rng.choice(fit_rows, size=min(len(fit_rows), 20_000), replace=False)
        self.forest = IsolationForest(n_estimators=100, random_state=seed).fit(matrix[sample])
        normal_scores = -self.forest.score_samples(matrix[fit_rows])
        self.forest_scale = float(np.quantile(normal_scores, SCALE_QUANTILE))
        return self

    def _learn_scales(self, sensor: str, deviations: pd.DataFrame, ok: np.ndarray) -> dict[str, float]:
        """High quantiles of each check on normal rows (each side of a two-sided one), floored at the
        sensor's resolution; a low quantile of the spread for calm (0: the sensor is too coarse to tell)."""
        floor = max(self.resolution.get(sensor, 0.0), 1e-6)
        scales: dict[str, float] = {}

        def values(check: str) -> np.ndarray:
            found = deviations[f"{sensor}__{check}"].to_numpy()[ok]
            found = found[np.isfinite(found)]
            if not len(found):
                readings = WINDOWS["long"][1]
                cadence = self._cadence(sensor)
                raise ValueError(
                    f"{self.kind} sensor {sensor!r}: no normal reading has a full '{check}' window; a "
                    f"unit needs at least {readings} readings in a row while running "
                    f"({window('long', cadence)} at its {cadence:g} s cadence)"
                )
            return found

        for check in TWO_SIDED:
            signed = values(check)
            up = max(float(np.quantile(np.maximum(signed, 0.0), SIDE_QUANTILE)), floor)
            down = max(float(np.quantile(np.maximum(-signed, 0.0), SIDE_QUANTILE)), floor)
            if max(up, down) < SIDE_RATIO * min(up, down):
                up = down = max(
                    up, down
                )  # not clearly lopsided: one scale, as the tails' estimates are rough
            scales[check], scales[f"{check}_low"] = up, down
        scales["noise"] = max(float(np.quantile(values("noise"), SCALE_QUANTILE)), floor)
        calm = float(np.quantile(values("spread"), 1.0 - SCALE_QUANTILE))
        scales["calm"] = calm if calm > 0 and calm >= self.resolution.get(sensor, 0.0) else 0.0
        return scales

    def _ratios(self, deviations: pd.DataFrame, sensor: str) -> dict[str, np.ndarray]:
        """Each check of one sensor as a multiple of its normal scale (0 where unknown)."""
        n = len(deviations)
        scales = self.scales.get(sensor)
        if scales is None or f"{sensor}__level" not in deviations:
            return {check: np.zeros(n) for check in CHECKS}
        ratios = {}
        for check in TWO_SIDED:
            raw = deviations[f"{sensor}__{check}"].to_numpy()
            up = np.maximum(raw, 0.0) / scales[check]
            down = np.maximum(-raw, 0.0) / scales.get(f"{check}_low", scales[check])
            ratios[check] = np.nan_to_num(np.maximum(up, down), nan=0.0)
        ratios["noise"] = np.nan_to_num(deviations[f"{sensor}__noise"].to_numpy() / scales["noise"], nan=0.0)
        calm = scales.get("calm", 0.0)
        spread = deviations[f"{sensor}__spread"].to_numpy()
        holdable = deviations[f"{sensor}__holdable"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            quiet = np.minimum(calm / spread, CALM_MAX_SCORE * self.margin)
        ratios["calm"] = np.where(holdable & (calm > 0) & np.isfinite(quiet), quiet, 0.0)
        return ratios

    def _forest_matrix(self, deviations: pd.DataFrame) -> np.ndarray:
        columns = []
        for sensor in ANOMALY_SENSORS[self.kind]:  # the kind's full layout: a sensor not monitored is 0
            ratios = self._ratios(deviations, sensor)
            columns += [ratios[check] for check in FOREST_CHECKS]
        return np.nan_to_num(np.column_stack(columns), nan=0.0)

    def score(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Per reading and sensor, the score of each check as a multiple of its alarm level (>= 1 flags)."""
        deviations = self.deviations(readings)
        scored = deviations["scored"].to_numpy()
        out = deviations[[*KEYS, "ts"]].copy()
        columns: dict[str, np.ndarray] = {}
        for sensor in self.sensors:
            for check, ratio in self._ratios(deviations, sensor).items():
                columns[f"{sensor}__{check}"] = np.where(scored, ratio / self.margin, 0.0)
            limit = self.stuck_readings.get(sensor, STUCK_MIN_READINGS)
            if f"{sensor}__stuck" in deviations:
                columns[f"{sensor}__stuck"] = deviations[f"{sensor}__stuck"].to_numpy() / limit
                columns[f"{sensor}__stuck_start"] = deviations[f"{sensor}__stuck_start"]
        if self.use_forest and self.forest is not None:
            forest = -self.forest.score_samples(self._forest_matrix(deviations)) / (
                self.forest_margin * self.forest_scale
            )
            columns["forest"] = np.where(scored, forest, 0.0)
        return pd.concat([out, pd.DataFrame(columns, index=out.index)], axis=1)

    def merge_gap(self) -> pd.Timedelta:
        """Flags of one unit this close form one anomaly: 3 min, or MERGE_READINGS at the slowest cadence."""
        cadence = max([self._cadence(s) for s in self.sensors] or [DEFAULT_CADENCE_S])
        return max(MERGE_GAP, pd.Timedelta(seconds=MERGE_READINGS * cadence))

    def detect(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Anomalies as events: KEYS, start, end, score, sensors (tuple), checks (tuple)."""
        return events_from_scores(self.score(readings), list(self.sensors), merge_gap=self.merge_gap())


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


def events_from_scores(
    scores: pd.DataFrame, sensors: list[str], merge_gap: pd.Timedelta = MERGE_GAP
) -> pd.DataFrame:
    """Group flagged readings per unit into anomalies (gaps up to merge_gap join), with span and sensors."""
    columns = [*KEYS, "start", "end", "score", "sensors", "checks"]
    parts = []
    for sensor in sensors:
        for check in (*CHECKS, "stuck"):
            if f"{sensor}__{check}" not in scores:
                continue
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
            level = np.column_stack(
                [scores[f"{s}__level"].to_numpy() for s in sensors if f"{s}__level" in scores]
            )
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
    new_event = (previous.isna() | (flags["start"] > previous + merge_gap)).to_numpy()
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
