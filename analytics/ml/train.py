"""Failure-risk and remaining-useful-life models per equipment kind, trained on labelled breakdowns.

Labels come from the event log: a feature row at time t is positive when its unit breaks down in
(t, t + horizon]. Rows of a unit that is down are not scored; rows too close to the end of the history to
know their outcome are censored (dropped), never guessed. Splits are by time (earlier trains, later
validates) with an embargo of one horizon so no training label looks into the validation period.

Probabilities are calibrated: the classifier's raw scores are mapped to failure rates by a calibrator fitted
on out-of-fold scores (time blocks, each scored by a classifier that never saw it nor the horizon around it),
so that the sum of the probabilities matches the failures that follow (docs/ml.md, "Calibration").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from analytics.ml.evaluate import failure_events, failure_metrics
from analytics.ml.features import KEYS, feature_columns

HORIZON_H = 24.0  # probability of failure within this much simulated time
RUL_CAP_H = 72.0  # remaining life is estimated up to this; beyond it a unit is simply "not soon"
TOP_FACTORS = 3
MODEL_VERSION = 2  # 2: calibrated probabilities, `predicted_health`
CALIBRATION_FOLDS = 3  # time blocks scored out of fold to fit the calibrator (fewer sites than below)
#: With rows from at least this many sites, each site is scored out of fold by a classifier fitted on the
#: others (leave one site out) instead of time blocks: a new site is what the model will meet.
CALIBRATION_MIN_SITES = 3
#: More sites than this are held out in this many groups of whole sites: each group is one classifier fit, and
#: 24 sites one at a time made calibration 24 fits (a crusher model on 24 site-weeks took minutes for it).
CALIBRATION_MAX_GROUPS = 6
#: "auto" is centred isotonic (its steps joined at their centres, so it keeps the ranking): chosen over Beta
#: and Platt by cross-validation across the training seeds, and over plain isotonic on 24 unseen site-weeks,
#: as calibrated and ranking better for every kind (docs/ml.md, Calibration).
CALIBRATION_METHODS = ("auto", "isotonic", "centred", "beta", "sigmoid", "none")
#: Features whose rise can only raise the risk: age and work since the last service (wear-out, a Weibull
#: hazard with shape > 1). Constraining them keeps a few breakdowns from teaching a dip the physics has
#: not got: on unseen seeds loaders' ROC-AUC 0.697 -> 0.774, trucks' 0.843 -> 0.855 (docs/ml.md).
RISING_WITH_AGE = (
    "hours_since_repair",
    "engine_hours_since_repair",
    "cycles_since_repair",
    "tonnes_since_repair",
)
_LOGIT_EPS = 1e-6


class NotEnoughFailures(ValueError):
    """The history holds no labelled failure of this kind in the part needed; keep the active model."""


def failure_targets(
    features: pd.DataFrame, events: pd.DataFrame, history_end: pd.Timestamp, horizon_h: float = HORIZON_H
) -> pd.DataFrame:
    """Per feature row: hours to the unit's next breakdown, the horizon label and the capped RUL target.

    y is NaN when the unit is down or the outcome is unknown (censored by the end of the history)."""
    keys = [k for k in KEYS if k in events] or ["unit_kind", "unit_id"]
    failures = events.loc[events["kind"] == "breakdown", [*keys, "ts"]].rename(columns={"ts": "fail_ts"})
    failures["fail_ts"] = pd.to_datetime(failures["fail_ts"], utc=True).astype(features["ts"].dtype)
    failures["fail_mode"] = events.loc[failures.index, "data"].map(lambda d: d.get("mode", "unknown"))
    left = features[[*KEYS, "ts"]].reset_index().sort_values("ts", kind="stable")
    failures = failures.assign(ts=failures["fail_ts"] - pd.Timedelta(microseconds=1)).sort_values("ts")
    if "site_id" not in failures:
        failures["site_id"] = left["site_id"].iloc[0] if len(left) else 0
    # The join keys take the features' dtypes: a history with no breakdown leaves them object-typed, and
    # merge_asof refuses to match a string column with an object one.
    failures = failures.astype({key: left[key].dtype for key in KEYS})
    joined = pd.merge_asof(left, failures, on="ts", by=KEYS, direction="forward")
    joined = joined.set_index("index").reindex(features.index)
    ttf_h = (joined["fail_ts"] - features["ts"]).dt.total_seconds() / 3600.0
    left_h = (history_end - features["ts"]).dt.total_seconds() / 3600.0
    down = features["is_down"].to_numpy(dtype=bool)
    y = pd.Series(
        np.where(ttf_h <= horizon_h, 1.0, np.where(left_h >= horizon_h, 0.0, np.nan)), index=features.index
    )
    y[down] = np.nan
    rul = np.where(
        ttf_h.notna(), np.minimum(ttf_h, RUL_CAP_H), np.where(left_h >= RUL_CAP_H, RUL_CAP_H, np.nan)
    )
    rul[down] = np.nan
    return pd.DataFrame(
        {"ttf_h": ttf_h.where(~down), "y": y, "rul_h": rul, "fail_mode": joined["fail_mode"].where(~down)},
        index=features.index,
    )


def time_split(
    ts: pd.Series, valid_share: float = 0.3, embargo_h: float = HORIZON_H
) -> tuple[np.ndarray, np.ndarray, pd.Timestamp]:
    """Boolean masks (train, valid) and the cut: valid is the last `valid_share` of the time span; training
    rows end one embargo before the cut because their labels look that far ahead."""
    start, end = ts.min(), ts.max()
    cut = start + (end - start) * (1.0 - valid_share)
    train = (ts + pd.Timedelta(hours=embargo_h) <= cut).to_numpy()
    valid = (ts > cut).to_numpy()
    return train, valid, cut


def signal_group(feature: str) -> str:
    """Features of one signal share a prefix: contributions are reported per signal, not per window."""
    return feature.split("__", 1)[0]


@dataclass
class FailureModel:
    """Classifier for P(failure within horizon), regressor for RUL, and what is needed to explain them."""

    kind: str
    feature_names: list[str]
    horizon_h: float = HORIZON_H
    classifier: HistGradientBoostingClassifier | None = None
    regressor: HistGradientBoostingRegressor | None = None
    reference: dict[str, float] = field(default_factory=dict)  # typical healthy value per feature
    threshold: float = 0.5  # warning threshold on p_fail, chosen on validation data
    metadata: dict = field(default_factory=dict)
    calibrator: Any = None  # IsotonicRegression, or LogisticRegression on _beta_terms / the logit; None: raw
    calibration: str = "none"  # isotonic | centred | beta | sigmoid | none: raw scores to probabilities

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names if c not in features]
        if missing:
            raise ValueError(f"{self.kind} features missing: {', '.join(missing)}")
        return features[self.feature_names].to_numpy(dtype="float64")

    def fit(
        self, features: pd.DataFrame, targets: pd.DataFrame, seed: int = 0, calibration: str = "auto"
    ) -> FailureModel:
        """Fit the classifier and RUL regressor on all labelled rows, and the calibrator on out-of-fold
        scores of the same rows (see calibrate); `calibration` is one of CALIBRATION_METHODS."""
        if calibration not in CALIBRATION_METHODS:
            raise ValueError(f"calibration {calibration!r}: expected one of {', '.join(CALIBRATION_METHODS)}")
        known = targets["y"].notna().to_numpy()
        x = self._matrix(features)
        y = targets["y"].to_numpy()
        if known.sum() == 0 or np.nanmax(y[known]) < 1:
            raise NotEnoughFailures(f"no labelled {self.kind} failures to learn from")
        self.classifier = _classifier(seed, self.feature_names).fit(x[known], y[known].astype(int))
        self.calibrator, self.calibration, self.metadata["calibration"] = None, "none", {"method": "none"}
        if calibration != "none":
            self.calibrate(features, targets, seed=seed, method=calibration)
        healthy = known & (y == 0)
        self.reference = {
            name: float(np.nanmedian(x[healthy, i])) if np.isfinite(x[healthy, i]).any() else 0.0
            for i, name in enumerate(self.feature_names)
        }
        rul_known = targets["rul_h"].notna().to_numpy()
        self.regressor = HistGradientBoostingRegressor(
            loss="absolute_error", max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=80,
            early_stopping=False, random_state=seed,
        )  # fmt: skip
        self.regressor.fit(x[rul_known], targets["rul_h"].to_numpy()[rul_known])
        return self

    def calibrate(
        self, features: pd.DataFrame, targets: pd.DataFrame, *, seed: int = 0, method: str = "auto"
    ) -> dict:
        """Fit the map from raw score to failure probability on scores of classifiers that never saw the rows.

        The time span is cut into CALIBRATION_FOLDS blocks; each block is scored by a classifier fitted on
        the other blocks less one horizon on either side (labels look a horizon ahead, features a day
        back), so no score comes from a model that saw its row, its unit's outcome or its neighbours'.
        With rows from CALIBRATION_MIN_SITES sites or more, whole sites are held out instead of time blocks.
        "auto" is centred isotonic. Returns (and keeps in metadata) what was fitted on how much."""
        y = targets["y"].to_numpy()
        groups = calibration_groups(features)
        raw = out_of_fold_scores(
            self._matrix(features), features["ts"], y, horizon_h=self.horizon_h, seed=seed, groups=groups,
            feature_names=self.feature_names,
        )  # fmt: skip
        held = ~np.isnan(raw) & ~np.isnan(y)
        events = failure_events(features.loc[held], targets.loc[held])
        sites = 0 if groups is None else features["site_id"].nunique()
        held_out = 0 if groups is None else len(np.unique(groups))
        scheme = (
            "time blocks" if not sites
            else f"{sites} sites, one left out at a time" if held_out == sites
            else f"{sites} sites in {held_out} groups, one group left out at a time"
        )  # fmt: skip
        report = {"method": "none", "rows": int(held.sum()), "failures": events, "held_out": scheme}
        if len(np.unique(y[held])) < 2:
            report["why"] = "held-out rows hold a single outcome: raw scores kept"
        else:
            chosen = "centred" if method == "auto" else method
            if chosen == "beta":
                self.calibrator = LogisticRegression(C=1e6).fit(_beta_terms(raw[held]), y[held].astype(int))
                if (self.calibrator.coef_ < 0).any() or not (self.calibrator.coef_ > 0).any():
                    # A negative weight makes the map non-monotone (it would reorder units): use Platt's.
                    chosen, report["why"] = "sigmoid", "Beta map not monotone: Platt's sigmoid used"
            if chosen == "centred":
                self.calibrator = centred_isotonic(raw[held], y[held])
            elif chosen == "isotonic":
                self.calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
                self.calibrator.fit(raw[held], y[held])
            elif chosen == "sigmoid":
                self.calibrator = LogisticRegression(C=1e6).fit(
                    _logit(raw[held])[:, None], y[held].astype(int)
                )
                if self.calibrator.coef_[0, 0] <= 0:
                    # Held-out scores rank failures backwards (loaders: a few run-ups, no signal): a free
                    # sigmoid would invert the ranking. Keep it, and only shift the mean to the failure rate.
                    self.calibrator.coef_[:] = 1.0
                    self.calibrator.intercept_[:] = _mean_shift(raw[held], float(np.mean(y[held])))
                    report["why"] = "held-out scores do not rank failures: Platt reduced to a mean shift"
            self.calibration = report["method"] = chosen
        self.metadata["calibration"] = report
        return report

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(failure within the horizon) of a feature matrix."""
        raw = self.classifier.predict_proba(x)[:, 1]
        if self.calibrator is None:
            return raw
        if self.calibration in ("isotonic", "centred"):
            return np.clip(self.calibrator.predict(raw), 0.0, 1.0)
        if self.calibration == "beta":
            return self.calibrator.predict_proba(_beta_terms(raw))[:, 1]
        return self.calibrator.predict_proba(_logit(raw)[:, None])[:, 1]

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return self.probability(self._matrix(features))

    def predict(self, features: pd.DataFrame, top_factors: int = TOP_FACTORS) -> pd.DataFrame:
        """One row per feature row: p_fail, rul_h, predicted_health (0-100), warning, and the top factors.

        A factor is a signal whose values, replaced by their typical healthy level, lower p_fail the most
        (`[(signal, points of probability it adds), ...]`). Runs on one thread: for a few thousand rows
        OpenMP's start-up and waiting cost more than they save, badly so on a busy worker."""
        with threadpool_limits(limits=1, user_api="openmp"):
            return self._predict(features, top_factors)

    def _predict(self, features: pd.DataFrame, top_factors: int) -> pd.DataFrame:
        x = self._matrix(features)
        p_fail = self.probability(x)
        rul_h = np.clip(self.regressor.predict(x), 0.0, RUL_CAP_H)
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(self.feature_names):
            groups.setdefault(signal_group(name), []).append(i)
        names = list(groups) if top_factors > 0 else []
        # All swapped copies in one call: one pass through the trees costs far less than one per signal.
        swapped = np.tile(x, (len(names), 1))
        for j, name in enumerate(names):
            for i in groups[name]:
                swapped[j * len(x) : (j + 1) * len(x), i] = self.reference[self.feature_names[i]]
        lift = np.zeros((len(x), len(names)))
        if names:
            p_swapped = self.probability(swapped).reshape(len(names), len(x))
            lift = p_fail[:, None] - p_swapped.T
        order = np.argsort(-lift, axis=1)[:, :top_factors]
        factors = [
            [(names[j], round(float(lift[r, j]), 4)) for j in row if lift[r, j] > 0.005]
            for r, row in enumerate(order)
        ]
        out = features[[c for c in (*KEYS, "ts") if c in features]].copy()
        out["p_fail"] = p_fail
        out["rul_h"] = rul_h
        out["predicted_health"] = health_score(p_fail, rul_h)
        out["warning"] = p_fail >= self.threshold
        out["top_factors"] = factors
        return out


def health_score(p_fail: np.ndarray, rul_h: np.ndarray) -> np.ndarray:
    """Predicted health, 0-100: 100 x chance of lasting the horizon, pulled down further when little life is
    left. The model's view, not the engine's condition index that a unit's own `health` column holds."""
    life_share = np.clip(rul_h / RUL_CAP_H, 0.0, 1.0)
    return np.round(100.0 * (1.0 - p_fail) * (0.5 + 0.5 * life_share), 1)


def calibration_groups(features: pd.DataFrame) -> np.ndarray | None:
    """The held-out group of each row when the rows come from at least CALIBRATION_MIN_SITES sites, else None
    (time blocks): its site, or with more than CALIBRATION_MAX_GROUPS sites one of that many groups of sites.
    Held-out sites are scored as a new site will be: by a classifier that saw the whole span of the others,
    trained on nearly all rows (its prior close to the final model's), with no embargo to lose."""
    if "site_id" not in features:
        return None
    sites = features["site_id"].to_numpy()
    unique, index = np.unique(sites, return_inverse=True)
    if len(unique) < CALIBRATION_MIN_SITES:
        return None
    # Whole sites stay together: beyond CALIBRATION_MAX_GROUPS they are dealt round-robin into that many.
    return index % CALIBRATION_MAX_GROUPS if len(unique) > CALIBRATION_MAX_GROUPS else sites


def _classifier(seed: int, feature_names: list[str] | None = None) -> HistGradientBoostingClassifier:
    """The failure classifier; with `feature_names`, risk may only rise with the RISING_WITH_AGE ones."""
    monotone = None if feature_names is None else [int(name in RISING_WITH_AGE) for name in feature_names]
    return HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=80, l2_regularization=1.0,
        early_stopping=False, random_state=seed, monotonic_cst=monotone,
    )  # fmt: skip


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    return np.log(p / (1.0 - p))


def _beta_terms(p: np.ndarray) -> np.ndarray:
    """Beta calibration's inputs (Kull et al., 2017): ln p and -ln(1 - p); with non-negative weights the map
    is monotone and, unlike Platt's, can bend differently at the two ends of the score range."""
    p = np.clip(p, _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    return np.column_stack([np.log(p), -np.log1p(-p)])


def centred_isotonic(raw: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    """Isotonic regression whose steps are joined at their centres (centred isotonic regression, Oron and
    Flournoy 2017): each pooled block becomes a point (mean score, failure rate) and scores between points
    are interpolated, so units with different scores keep different probabilities (plain isotonic ties a
    whole block, which costs ranking). Returned as an IsotonicRegression fitted on those points: its
    predict interpolates linearly between them and clips beyond the ends."""
    steps = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
    fitted = steps.predict(raw)
    rates, block = np.unique(fitted, return_inverse=True)
    centres = np.bincount(block, weights=raw) / np.bincount(block)
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(centres, rates)


def _mean_shift(raw: np.ndarray, rate: float) -> float:
    """The logit shift b with mean(sigmoid(logit(raw) + b)) = rate (bisection: the mean is monotone)."""
    logits, low, high = _logit(raw), -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(logits + mid)))) < rate:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def out_of_fold_scores(
    x: np.ndarray,
    ts: pd.Series,
    y: np.ndarray,
    *,
    horizon_h: float = HORIZON_H,
    folds: int = CALIBRATION_FOLDS,
    seed: int = 0,
    groups: np.ndarray | None = None,
    feature_names: list[str] | None = None,
) -> np.ndarray:
    """Raw classifier scores of labelled rows (y not NaN), each from a classifier fitted without its time
    block and without one horizon on either side of it; NaN for rows left unscored (unlabelled, or a block
    whose training part lacks either outcome). `feature_names` (x's columns) give the classifier its
    constraints, as in FailureModel.fit.

    With `groups` (one label per row, e.g. the site: independent histories) each group is instead scored by
    a classifier fitted on all the other groups' rows over the whole time span, as an unseen site is."""
    if not len(x) == len(ts) == len(y):
        raise ValueError(f"out-of-fold scores: {len(x)} feature rows, {len(ts)} times, {len(y)} labels")
    known = ~np.isnan(y)
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(x):
            raise ValueError(f"out-of-fold scores: {len(groups)} group labels for {len(x)} feature rows")
        blocks = [(groups == g, known & (groups != g)) for g in np.unique(groups)]
        return _scores_out_of(x, y, known, blocks, seed, feature_names)
    ts = ts.reset_index(drop=True)
    start, end = ts.min(), ts.max()
    edges = [start + (end - start) * i / folds for i in range(folds + 1)]
    embargo = pd.Timedelta(hours=horizon_h)
    blocks = []
    for b in range(folds):
        last = b == folds - 1
        inside = ((ts >= edges[b]) & ((ts <= edges[b + 1]) if last else (ts < edges[b + 1]))).to_numpy()
        fit = known & ((ts + embargo < edges[b]) | (ts > edges[b + 1] + embargo)).to_numpy()
        blocks.append((inside, fit))
    return _scores_out_of(x, y, known, blocks, seed, feature_names)


def _scores_out_of(
    x: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    blocks: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    feature_names: list[str] | None = None,
) -> np.ndarray:
    """Scores of each block's labelled rows by a classifier fitted on that block's training mask."""
    scores = np.full(len(x), np.nan)
    for inside, fit in blocks:
        scored = inside & known
        if not scored.any() or len(np.unique(y[fit])) < 2:
            continue
        # A signal with no value in the fold's training rows (hours since repair before any repair) trips
        # the binning; it carries nothing for that fold, so it is held constant there.
        blank = np.isnan(x[fit]).all(axis=0)
        x_fit, x_scored = x[fit], x[scored]
        x_fit[:, blank], x_scored[:, blank] = 0.0, 0.0
        classifier = _classifier(seed, feature_names).fit(x_fit, y[fit].astype(int))
        scores[scored] = classifier.predict_proba(x_scored)[:, 1]
    return scores


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability threshold with the best F1 on labelled rows (the warning level for operators)."""
    order = np.argsort(-p)
    y_sorted, p_sorted = y[order], p[order]
    tp = np.cumsum(y_sorted)
    precision = tp / np.arange(1, len(y_sorted) + 1)
    recall = tp / max(tp[-1], 1)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(p_sorted[int(np.argmax(f1))])


def train_failure_model(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    kind: str,
    *,
    horizon_h: float = HORIZON_H,
    valid_share: float = 0.3,
    refit: bool = True,
    seed: int = 0,
    calibration: str = "auto",
) -> tuple[FailureModel, dict]:
    """Fit (and calibrate, within the earlier part) on the earlier part, validate on the later part (metrics,
    warning threshold), then refit and recalibrate on all.

    Returns the model and its validation metrics (also stored in model.metadata)."""
    started = time.perf_counter()
    names = feature_columns(features)
    train, valid, cut = time_split(features["ts"], valid_share, embargo_h=horizon_h)
    model = FailureModel(kind=kind, feature_names=names, horizon_h=horizon_h)
    model.fit(features.loc[train], targets.loc[train], seed=seed, calibration=calibration)
    validated_calibration = model.metadata.get("calibration")
    scored = model.predict(features.loc[valid], top_factors=0)
    labelled = targets.loc[valid, "y"].notna().to_numpy()
    model.threshold = best_f1_threshold(
        targets.loc[valid, "y"].to_numpy()[labelled], scored["p_fail"].to_numpy()[labelled]
    )
    metrics = failure_metrics(scored, targets.loc[valid], threshold=model.threshold, horizon_h=horizon_h)
    if refit:
        model.fit(features, targets, seed=seed, calibration=calibration)
    calibration_report = model.metadata.get("calibration")
    model.metadata = model_metadata(
        kind=f"failure_{kind}",
        features=features,
        feature_names=names,
        metrics=metrics,
        extra={
            "horizon_h": horizon_h,
            "validation_from": cut.isoformat(),
            "threshold": model.threshold,
            "refit_on_all": refit,
            "calibration": calibration_report,
            "validated_calibration": validated_calibration,
            "train_seconds": round(time.perf_counter() - started, 2),
            "rows": int(targets["y"].notna().sum()),
            "positives": int((targets["y"] == 1).sum()),
        },
    )
    return model, metrics


def model_metadata(
    *, kind: str, features: pd.DataFrame, feature_names: list[str], metrics: dict, extra: dict | None = None
) -> dict:
    """The plain, JSON-safe dict the model registry stores next to an artifact."""
    return {
        "kind": kind,
        "version": MODEL_VERSION,
        "training_window": {
            "start": features["ts"].min().isoformat(),
            "end": features["ts"].max().isoformat(),
        },
        "sites": sorted(int(s) for s in features["site_id"].unique()) if "site_id" in features else [],
        "feature_names": list(feature_names),
        "metrics": {
            k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in metrics.items()
        },
        **(extra or {}),
    }
