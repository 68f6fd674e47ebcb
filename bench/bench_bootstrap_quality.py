"""How good the bootstrap's first models are on sites they never saw, against the engine's hidden health.

The bootstrap (analytics/scoring/bootstrap.py) trains on simulated sites 9001-9006 (trucks on the first
ML_BOOTSTRAP_TRUCK_SEEDS of them); this trains the same way (`train_failure_model`, `fit_anomaly_models`) and
scores unseen test seeds 101-106. The ceiling is the engine's own `health` (hidden wear and fault severity,
never a model input) ranking the same labelled rows: lower health, higher risk. Loaders have no readings,
so no health ceiling. Medians (min-max) over the test seeds.
Run: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_bootstrap_quality [--quick] (~6 min idle).
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from analytics.ml.anomaly import detect_anomalies, fit_anomaly_models
from analytics.ml.evaluate import anomaly_event_metrics, failure_metrics
from analytics.ml.features import KEYS
from analytics.ml.history import History, simulate_histories
from analytics.ml.pipeline import MAINTAINED_KINDS, prepare
from analytics.ml.train import train_failure_model
from bench.bench_ml import ANOMALY_KINDS, DAYS, TEST_SEEDS

BOOTSTRAP_SEEDS = list(range(9001, 9007))  # analytics.scoring.bootstrap.SEED_BASE, ML_BOOTSTRAP_SEEDS
TRUCK_SEEDS = 2  # settings.ML_BOOTSTRAP_TRUCK_SEEDS


def hidden_health(features: pd.DataFrame, readings: pd.DataFrame) -> np.ndarray:
    """The engine's health of each feature row's unit as of the row's time (backward as-of join)."""
    left = features[[*KEYS, "ts"]].reset_index().sort_values("ts", kind="stable")
    right = readings[[*KEYS, "ts", "health"]].sort_values("ts", kind="stable")
    right = right.astype({key: left[key].dtype for key in KEYS})
    joined = pd.merge_asof(left, right, on="ts", by=KEYS, direction="backward")
    return joined.set_index("index").reindex(features.index)["health"].to_numpy(float)


def _summary(values: list[float]) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "n/a"
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def failure_quality(models: dict, test: list[History]) -> dict:
    """Per kind: ROC-AUC, Brier, median warning lead of the model and the hidden-health ROC-AUC ceiling."""
    out: dict[str, dict[str, list[float]]] = {}
    for kind, model in models.items():
        row = out.setdefault(kind, {"roc_auc": [], "ceiling": [], "ratio": [], "brier": [], "lead_h": []})
        for history in test:
            features, targets = prepare([history], kind, horizon_h=model.horizon_h)
            scored = model.predict(features, top_factors=0)
            metrics = failure_metrics(scored, targets, threshold=model.threshold, horizon_h=model.horizon_h)
            row["roc_auc"].append(metrics["roc_auc"])
            row["brier"].append(metrics["brier"])
            row["lead_h"].append(metrics["median_lead_h"])
            if kind in history.readings and "health" in history.readings[kind]:
                known = targets["y"].notna().to_numpy()
                health = hidden_health(features, history.readings[kind])
                ok = known & np.isfinite(health)
                y = targets["y"].to_numpy()[ok]
                ceiling = roc_auc_score(y, -health[ok])
                row["ceiling"].append(ceiling)
                row["ratio"].append(roc_auc_score(y, scored["p_fail"].to_numpy()[ok]) / ceiling)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two test seeds")
    args = parser.parse_args()
    test_seeds = TEST_SEEDS[:2] if args.quick else TEST_SEEDS
    train = simulate_histories(BOOTSTRAP_SEEDS, DAYS, workers=2)
    test = simulate_histories(test_seeds, DAYS, workers=2)
    models = {}
    for kind in MAINTAINED_KINDS:
        used = train[:TRUCK_SEEDS] if kind == "truck" else train
        features, targets = prepare(used, kind)
        models[kind], _ = train_failure_model(features, targets, kind)
    quality = failure_quality(models, test)
    print(f"bootstrap models (seeds {BOOTSTRAP_SEEDS}, trucks on the first {TRUCK_SEEDS}) on test seeds "
          f"{test_seeds}: median (min-max)")  # fmt: skip
    for kind, row in quality.items():
        print(f"{kind:8} ROC-AUC {_summary(row['roc_auc'])}  hidden health {_summary(row['ceiling'])}  "
              f"ratio {_summary(row['ratio'])} (goal >= 0.95)  Brier {_summary(row['brier'])}  "
              f"median lead h {_summary(row['lead_h'])}")  # fmt: skip
    anomaly_models = {}
    labels = pd.concat([h.labels for h in train], ignore_index=True)
    for kind in ANOMALY_KINDS:
        used = train[:TRUCK_SEEDS] if kind == "truck" else train
        anomaly_models |= fit_anomaly_models(
            {kind: pd.concat([h.readings[kind] for h in used], ignore_index=True)}, labels
        )
    events = [
        anomaly_event_metrics(
            detect_anomalies(anomaly_models, {k: h.readings[k] for k in ANOMALY_KINDS}), h.labels
        )
        for h in test
    ]
    print(f"anomaly  event precision {_summary([e['precision'] for e in events])}  "
          f"recall {_summary([e['recall'] for e in events])} (goal >= 0.8 each)")  # fmt: skip
    print(json.dumps({k: {m: [round(v, 4) for v in vs] for m, vs in r.items()} for k, r in quality.items()}))


if __name__ == "__main__":
    main()
