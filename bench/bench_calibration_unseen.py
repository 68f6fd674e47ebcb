"""Crusher and loader calibration on the unseen test seeds, before (Beta) and after (centred isotonic).

Models trained on the training seeds 1-6 (one week each) with each calibration, scored on test seeds 101-106:
per-seed ECE (median, min-max; the issue's figure), the ECE of all test rows pooled with its 90 % interval
(whole units resampled), equal-mass ECE, calibration in the large, Brier and ROC-AUC, all in one run.
Run: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_calibration_unseen [--kinds crusher,loader].
"""

from __future__ import annotations

import argparse
import statistics

import pandas as pd

from analytics.ml.evaluate import (
    calibration_in_the_large,
    ece_interval,
    equal_mass_calibration_error,
    expected_calibration_error,
    failure_metrics,
)
from analytics.ml.history import simulate_histories
from analytics.ml.pipeline import prepare
from analytics.ml.train import train_failure_model
from bench.bench_ml import DAYS, TEST_SEEDS, TRAIN_SEEDS

CALIBRATIONS = {"before (Beta)": "beta", "after (centred isotonic)": "centred"}


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="crusher,loader")
    kinds = parser.parse_args().kinds.split(",")
    train = simulate_histories(TRAIN_SEEDS, DAYS, workers=2)
    test = simulate_histories(TEST_SEEDS, DAYS, workers=2)
    for kind in kinds:
        features, targets = prepare(train, kind)
        parts = [prepare([h], kind) for h in test]
        shares = ", ".join(f"{t['y'].mean():.3f}" for _, t in parts)
        print(f"== {kind}: trained on {TRAIN_SEEDS}, test {TEST_SEEDS}; positive share per seed {shares}")
        for label, method in CALIBRATIONS.items():
            model, _ = train_failure_model(features, targets, kind, calibration=method)
            scored = [(model.predict(f, top_factors=0), t) for f, t in parts]
            seeds = [
                failure_metrics(s, t, threshold=model.threshold, horizon_h=model.horizon_h) for s, t in scored
            ]
            pooled_f = pd.concat([f for f, _ in parts], ignore_index=True)
            pooled_t = pd.concat([t for _, t in parts], ignore_index=True)
            known = pooled_t["y"].notna().to_numpy()
            y, p = pooled_t["y"].to_numpy()[known], model.predict_proba(pooled_f)[known]
            units = pooled_f["site_id"].astype(str) + "/" + pooled_f["unit_id"].astype(str)
            low, high = ece_interval(y, p, units.to_numpy()[known])
            ece, brier, auc = ([s[m] for s in seeds] for m in ("ece", "brier", "roc_auc"))
            mass, large = equal_mass_calibration_error(y, p), calibration_in_the_large(y, p)
            print(f"{label:26} per-seed ECE {_median(ece)}  Brier {_median(brier)}  ROC-AUC {_median(auc)} | "
                  f"pooled ECE {expected_calibration_error(y, p):.3f} (90 % {low:.3f}-{high:.3f}) by mass "
                  f"{mass:.3f} in the large {large:.3f} [{model.metadata['calibration']['method']}]",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
