"""Which calibration transfers to an unseen site, chosen on the training seeds only (docs/ml.md, Calibration).

Nested cross-validation across the training seeds: each seed in turn is the unseen site; a classifier fitted
on the other seeds is scored on it, mapped by calibrators fitted on out-of-fold scores of those other seeds
(time blocks, or one site left out at a time). Medians over the held-out seeds. Test seeds are never touched.
Run: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_calibration [--kinds crusher,loader] (~5 min).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from analytics.ml.evaluate import (
    calibration_in_the_large,
    equal_mass_calibration_error,
    expected_calibration_error,
)
from analytics.ml.features import feature_columns
from analytics.ml.history import simulate_histories
from analytics.ml.pipeline import prepare
from analytics.ml.train import (
    _beta_terms,
    _classifier,
    _logit,
    _mean_shift,
    centred_isotonic,
    out_of_fold_scores,
)
from bench.bench_ml import DAYS, TRAIN_SEEDS


def _fit(x: np.ndarray, y: np.ndarray):
    blank = np.isnan(x).all(axis=0)
    clf = _classifier(0).fit(np.where(blank, 0.0, x), y.astype(int))
    return lambda q: clf.predict_proba(np.where(blank, 0.0, q))[:, 1]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def platt(r: np.ndarray, y: np.ndarray):
    lr = LogisticRegression(C=1e6).fit(_logit(r)[:, None], y.astype(int))
    a, b = lr.coef_[0, 0], lr.intercept_[0]
    if a <= 0:
        a, b = 1.0, _mean_shift(r, float(y.mean()))
    return lambda q: _sigmoid(a * _logit(q) + b)


def beta(r: np.ndarray, y: np.ndarray):
    lr = LogisticRegression(C=1e6).fit(_beta_terms(r), y.astype(int))
    if (lr.coef_ < 0).any():
        return platt(r, y)
    return lambda q: lr.predict_proba(_beta_terms(q))[:, 1]


def isotonic(r: np.ndarray, y: np.ndarray):
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(r, y)
    return lambda q: np.clip(iso.predict(q), 0.0, 1.0)


def centred(r: np.ndarray, y: np.ndarray):
    iso = centred_isotonic(r, y)
    return lambda q: np.clip(iso.predict(q), 0.0, 1.0)


def temperature(r: np.ndarray, y: np.ndarray):
    lr = LogisticRegression(C=1e6, fit_intercept=False).fit(_logit(r)[:, None], y.astype(int))
    a = max(lr.coef_[0, 0], 1e-3)
    return lambda q: _sigmoid(a * _logit(q))


def base_rate_blend(r: np.ndarray, y: np.ndarray):
    p, rate = platt(r, y), float(y.mean())
    return lambda q: 0.5 * p(q) + 0.5 * rate


CALIBRATORS = {
    "none": lambda r, y: lambda q: q,
    "mean shift": lambda r, y: (lambda b: lambda q: _sigmoid(_logit(q) + b))(_mean_shift(r, float(y.mean()))),
    "platt": platt,
    "temperature": temperature,
    "beta": beta,
    "isotonic": isotonic,
    "centred isotonic": centred,
    "platt+base rate": base_rate_blend,
}


def held_out_choice(r: np.ndarray, y: np.ndarray, groups: np.ndarray) -> str:
    """Beta or centred isotonic: the one with the lower Brier score on each site's out-of-fold scores when
    fitted on the other sites'."""
    names = ("beta", "centred isotonic")
    loss = {}
    for name in names:
        errors = []
        for g in np.unique(groups):
            fit, held = groups != g, groups == g
            if len(np.unique(y[fit])) < 2:
                continue
            errors.append(np.sum((CALIBRATORS[name](r[fit], y[fit])(r[held]) - y[held]) ** 2))
        loss[name] = float(np.sum(errors))
    return min(loss, key=loss.get)


METRICS = ("ece", "ece_mass", "large", "brier", "auc")


def nested(
    parts: list[tuple[pd.DataFrame, pd.DataFrame]], choices: list[str]
) -> dict[str, dict[str, list[float]]]:
    """Per scheme/calibrator: ECE (equal-width and equal-mass bins, in the large), Brier, ROC-AUC on each
    held-out training seed; `choices` gets the held-out choice of each."""
    out: dict[str, dict[str, list[float]]] = {}
    for held in range(len(parts)):
        features = pd.concat([p[0] for i, p in enumerate(parts) if i != held], ignore_index=True)
        targets = pd.concat([p[1] for i, p in enumerate(parts) if i != held], ignore_index=True)
        names = feature_columns(features)
        known = targets["y"].notna().to_numpy()
        x, y = features[names].to_numpy(float)[known], targets["y"].to_numpy()[known]
        ts, sites = features["ts"][known].reset_index(drop=True), features["site_id"].to_numpy()[known]
        unseen_f, unseen_t = parts[held]
        seen = unseen_t["y"].notna().to_numpy()
        q = _fit(x, y)(unseen_f[names].to_numpy(float)[seen])
        y_unseen = unseen_t["y"].to_numpy()[seen]
        schemes = {
            "time blocks": out_of_fold_scores(x, ts, y),
            "sites": out_of_fold_scores(x, ts, y, groups=sites),
        }
        for scheme, raw in schemes.items():
            ok = ~np.isnan(raw)
            chosen = held_out_choice(raw[ok], y[ok], sites[ok])
            for name, calibrator in {
                **CALIBRATORS,
                f"held-out choice ({chosen})": CALIBRATORS[chosen],
            }.items():
                p = calibrator(raw[ok], y[ok])(q)
                row = out.setdefault(f"{scheme} / {name}", {k: [] for k in METRICS})
                row["ece"].append(expected_calibration_error(y_unseen, p))
                row["ece_mass"].append(equal_mass_calibration_error(y_unseen, p))
                row["large"].append(calibration_in_the_large(y_unseen, p))
                row["brier"].append(brier_score_loss(y_unseen, p))
                row["auc"].append(roc_auc_score(y_unseen, p))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kinds", default="crusher,loader")
    kinds = parser.parse_args().kinds.split(",")
    histories = simulate_histories(TRAIN_SEEDS, DAYS, workers=2)
    for kind in kinds:
        print(f"== {kind}: median (mean) over held-out training seeds {TRAIN_SEEDS}")
        parts, choices = [prepare([h], kind) for h in histories], []
        for h, (_, targets) in zip(histories, parts, strict=True):
            seen = targets.loc[targets["y"].notna()]
            print(f"seed {h.meta['seed']}: positive share {seen['y'].mean():.3f} of {len(seen)} rows")
        for label, row in nested(parts, choices).items():
            med = {k: statistics.median(v) for k, v in row.items()}
            mean_ece, mean_brier = np.mean(row["ece"]), np.mean(row["brier"])
            print(f"{label:26} ECE {med['ece']:.3f} ({mean_ece:.3f}) by mass {med['ece_mass']:.3f} "
                  f"in the large {med['large']:.3f}  Brier {med['brier']:.4f} ({mean_brier:.4f})  "
                  f"ROC-AUC {med['auc']:.3f}")  # fmt: skip
        print(f"held-out choice per held-out seed and scheme: {choices}")


if __name__ == "__main__":
    main()
