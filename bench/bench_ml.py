"""Predictive maintenance and anomaly detection measured on simulated sites the models never saw.

Training seeds and test seeds are disjoint; thresholds and margins are chosen on training seeds only.
Figures are medians (min, max) over the test seeds. Run: .venv/bin/python -m bench.bench_ml [--quick]
[--anomaly-only | --risk]. `--anomaly-only` skips the failure models (the anomaly figures alone, in a few
minutes). `--risk` measures only the failure risk's calibration and advice, before (raw scores, the old
advice rule) and after (calibrated scores, the actionable rule), with models trained on the same seeds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd

from analytics.ml.anomaly import detect_anomalies, fit_anomaly_models
from analytics.ml.evaluate import (
    anomaly_event_metrics,
    ece_interval,
    expected_calibration_error,
    failure_events,
    reliability_table,
)
from analytics.ml.features import build_features, latest_rows
from analytics.ml.history import simulate_histories
from analytics.ml.pipeline import MAINTAINED_KINDS, evaluate_models, prepare, train_models
from analytics.ml.risk import actionable

TRAIN_SEEDS = [1, 2, 3, 4, 5, 6]
TEST_SEEDS = [101, 102, 103, 104, 105, 106]
DAYS = 7.0
ANOMALY_KINDS = ("truck", "crusher", "stockpile")


def _row(metric: str, values: list[float], unit: str, goal: str | None = None, at_least: float | None = None):
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not values:
        return {
            "metric": metric,
            "median": None,
            "min": None,
            "max": None,
            "unit": unit,
            "goal": goal,
            "met": None,
        }
    median = statistics.median(values)
    met = None if at_least is None else bool(median >= at_least)
    return {
        "metric": metric, "median": median, "min": min(values), "max": max(values), "unit": unit,
        "goal": goal, "met": met,
    }  # fmt: skip


def _time_row(metric: str, seconds: list[float], limit_s: float) -> dict:
    median = statistics.median(seconds)
    return {
        "metric": metric, "median": median, "min": min(seconds), "max": max(seconds), "unit": "s",
        "goal": f"< {limit_s:g} s", "met": bool(median < limit_s),
    }  # fmt: skip


def run(quick: bool = False, anomaly_only: bool = False) -> dict:
    train_seeds = TRAIN_SEEDS[:2] if quick else TRAIN_SEEDS
    test_seeds = TEST_SEEDS[:2] if quick else TEST_SEEDS
    started = time.perf_counter()
    train = simulate_histories(train_seeds, DAYS, workers=2)
    test = simulate_histories(test_seeds, DAYS, workers=2)
    simulate_s = time.perf_counter() - started
    rows: list[dict] = []
    outcome: dict = {}
    if not anomaly_only:
        outcome = _failure_rows(train, test, quick, rows)
    rows += _anomaly_rows(train, test, outcome)
    return {
        "rows": rows,
        "train_seeds": train_seeds,
        "test_seeds": test_seeds,
        "days_per_seed": DAYS,
        "simulate_s": round(simulate_s, 1),
        **outcome,
    }


def _failure_rows(train: list, test: list, quick: bool, rows: list[dict]) -> dict:
    """Failure models: training time, ranking and warning figures per kind, inference time."""
    # Training time on one week of one default site (all three kinds, features included).
    week_s = []
    for _ in range(1 if quick else 2):
        t0 = time.perf_counter()
        week_kinds = sorted(train_models(train[:1]))
        week_s.append(time.perf_counter() - t0)
    rows.append(_time_row("train failure models, 1 week default site", week_s, 120.0))

    t0 = time.perf_counter()
    models = train_models(train)
    train_all_s = time.perf_counter() - t0
    per_seed = [evaluate_models(models, [history]) for history in test]
    for kind in [k for k in MAINTAINED_KINDS if k in models]:
        k = "precision_at_3" if kind == "truck" else "precision_at_1"
        results = [seed[kind] for seed in per_seed]
        rows += [
            _row(f"{kind}: ROC-AUC (24 h horizon)", [r["roc_auc"] for r in results], "", ">= 0.85", 0.85),
            _row(f"{kind}: PR-AUC", [r["pr_auc"] for r in results], ""),
            _row(f"{kind}: {k.replace('_', ' ')}", [r[k] for r in results], ""),
            _row(f"{kind}: Brier score", [r["brier"] for r in results], ""),
            _row(f"{kind}: expected calibration error", [r["ece"] for r in results], "", "<= 0.05"),
            _row(f"{kind}: RUL MAE, units failing within 24 h", [r["rul_mae_h"] for r in results], "h"),
            _row(f"{kind}: median warning lead (all failures)", [r["median_lead_h"] for r in results], "h",
                 ">= 4 h", 4.0),
            _row(f"{kind}: failures warned >= 4 h ahead", [r["warned_4h_share"] for r in results], "share"),
            _row(f"{kind}: failures in test histories", [r["failures"] for r in results], "count"),
        ]  # fmt: skip

    # Inference: 1,000 units scored (probability, RUL, health, top factors) from their feature rows.
    features, _ = prepare(test[:1], "truck")
    thousand = features.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    infer_s = []
    for _ in range(5):
        t0 = time.perf_counter()
        models["truck"].predict(thousand)
        infer_s.append(time.perf_counter() - t0)
    rows.append(_time_row("score 1,000 trucks (p, RUL, health, top factors)", infer_s, 1.0))
    readings = test[0].readings["truck"]
    last_day = readings.loc[readings["ts"] > readings["ts"].max() - pd.Timedelta(hours=24)]
    t0 = time.perf_counter()
    latest_rows(build_features(last_day, test[0].events, "truck", every=None))
    per_unit_ms = (time.perf_counter() - t0) / readings["unit_id"].nunique() * 1000.0
    rows.append(_row("latest features from 24 h of readings, per truck", [per_unit_ms], "ms"))
    return {
        "train_all_seeds_s": round(train_all_s, 1),
        "one_week_trained_kinds": week_kinds,
        "validation_metrics": {kind: model.metadata["metrics"] for kind, model in models.items()},
    }


def _anomaly_rows(train: list, test: list, outcome: dict) -> list[dict]:
    """Anomaly models fitted on the training seeds, event precision and recall on each test seed."""
    t0 = time.perf_counter()
    labels = pd.concat([h.labels for h in train], ignore_index=True)
    anomaly_models = fit_anomaly_models(
        {k: pd.concat([h.readings[k] for h in train], ignore_index=True) for k in ANOMALY_KINDS}, labels
    )
    outcome["anomaly_fit_s"] = round(time.perf_counter() - t0, 1)
    anomaly = []
    detect_s = []
    for history in test:
        t0 = time.perf_counter()
        found = detect_anomalies(anomaly_models, {k: history.readings[k] for k in ANOMALY_KINDS})
        detect_s.append(time.perf_counter() - t0)
        anomaly.append(anomaly_event_metrics(found, history.labels))
    outcome["anomaly_recall_by_label"] = {
        label: statistics.median([a["recall_by_label"].get(label, float("nan")) for a in anomaly])
        for label in ("spike", "drift", "stuck", "noise_burst")
    }
    outcome["anomaly_precision_per_seed"] = [round(a["precision"], 3) for a in anomaly]
    return [
        _row("anomaly: event precision", [a["precision"] for a in anomaly], "", ">= 0.8", 0.8),
        _row("anomaly: event recall", [a["recall"] for a in anomaly], "", ">= 0.8", 0.8),
        _row("anomaly: injected anomalies per test week", [a["true_anomalies"] for a in anomaly], "count"),
        _row("anomaly: detect a week of one site", detect_s, "s"),
    ]


#: The maintenance advice before issue 17: a unit in warning (p >= the F1-best threshold) or at p >= 0.5.
OLD_ADVICE_P = 0.5


def snapshot_flags(models: dict, history, *, calibrated: bool) -> dict:
    """Per site snapshot (10-min grid) of labelled units, all maintained kinds together as the site's refresh
    scores them: the share of units flagged for maintenance and the share that fail within the horizon."""
    parts = []
    for kind, model in models.items():
        features, targets = prepare([history], kind, horizon_h=model.horizon_h)
        scored = model.predict(features, top_factors=0).assign(y=targets["y"].to_numpy())
        scored["warning"] = scored["p_fail"] >= model.threshold
        parts.append(scored.loc[scored["y"].notna()])
    rows = pd.concat(parts, ignore_index=True)
    flagged = units = 0
    for _, snap in rows.groupby(["site_id", "ts"]):
        p = snap["p_fail"].to_numpy()
        flags = actionable(p) if calibrated else (snap["warning"].to_numpy() | (p >= OLD_ADVICE_P))
        flagged, units = flagged + int(flags.sum()), units + len(p)
    return {"flagged_share": flagged / units, "failure_share": float(rows["y"].mean())}


def pooled_calibration(model, histories: list) -> dict:
    """ECE of all test seeds' rows together, its 90 % bootstrap interval (whole units resampled: a unit's
    run-up rows are one piece of evidence) and the rows and positives per probability bin."""
    features, targets = prepare(histories, model.kind, horizon_h=model.horizon_h)
    known = targets["y"].notna().to_numpy()
    y = targets["y"].to_numpy()[known]
    p = model.predict_proba(features)[known]
    units = (features["site_id"].astype(str) + "/" + features["unit_id"].astype(str)).to_numpy()[known]
    low, high = ece_interval(y, p, units)
    return {
        "ece": round(expected_calibration_error(y, p), 4), "ece_90": [round(low, 4), round(high, 4)],
        "failure_events": failure_events(features.loc[known], targets.loc[known]),
        "bins": [(round(b["low"], 1), b["rows"], round(b["observed"] * b["rows"]), round(b["predicted"], 3))
                 for b in reliability_table(y, p)],
    }  # fmt: skip


def run_risk(quick: bool = False) -> dict:
    """Calibration and advice of the failure models on unseen seeds: raw (before) against calibrated."""
    train_seeds = TRAIN_SEEDS[:2] if quick else TRAIN_SEEDS
    test_seeds = TEST_SEEDS[:2] if quick else TEST_SEEDS
    train = simulate_histories(train_seeds, DAYS, workers=2)
    test = simulate_histories(test_seeds, DAYS, workers=2)
    return risk_rows(train, test) | {"train_seeds": train_seeds, "test_seeds": test_seeds}


def risk_rows(train: list, test: list, labels: tuple[str, ...] = ("before", "after")) -> dict:
    rows: list[dict] = []
    pooled: dict = {}
    trained = {
        label: train_models(train, calibration="none" if label == "before" else "auto") for label in labels
    }
    after = trained.get("after", {})
    for label, models in trained.items():
        per_seed = [evaluate_models(models, [history]) for history in test]
        for kind in [k for k in MAINTAINED_KINDS if k in models]:
            results = [seed[kind] for seed in per_seed]
            rows += [
                _row(f"{label} {kind}: ECE", [r["ece"] for r in results], "", "<= 0.05"),
                _row(f"{label} {kind}: Brier score", [r["brier"] for r in results], ""),
                _row(f"{label} {kind}: ROC-AUC", [r["roc_auc"] for r in results], ""),
                _row(f"{label} {kind}: expected / observed positive rows",
                     [r["expected_positives"] / max(r["positives"], 1) for r in results], "ratio"),
            ]  # fmt: skip
        pooled[label] = {kind: pooled_calibration(model, test) for kind, model in models.items()}
        flags = [snapshot_flags(models, history, calibrated=label == "after") for history in test]
        rows += [
            _row(f"{label}: share of units flagged", [f["flagged_share"] for f in flags], "share"),
            _row(f"{label}: share failing within 24 h", [f["failure_share"] for f in flags], "share"),
            _row(f"{label}: flagged / failing", [f["flagged_share"] / f["failure_share"] for f in flags],
                 "ratio", "<= 2"),
        ]  # fmt: skip
    return {
        "rows": rows,
        "pooled_test_calibration": pooled,
        "calibration": {kind: model.metadata.get("calibration") for kind, model in after.items()},
        "reliability_truck_validation": after["truck"].metadata["metrics"]["reliability"]
        if "truck" in after
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--anomaly-only", action="store_true", help="skip the failure models")
    only.add_argument("--risk", action="store_true", help="only the failure risk's calibration and advice")
    args = parser.parse_args()
    if args.risk:
        outcome = run_risk(quick=args.quick)
    else:
        outcome = run(quick=args.quick, anomaly_only=args.anomaly_only)
    for row in outcome["rows"]:
        median = "-" if row["median"] is None else f"{row['median']:.3f}"
        spread = "" if row["min"] is None else f" ({row['min']:.3f}-{row['max']:.3f})"
        verdict = "" if row["met"] is None else (" MET" if row["met"] else " NOT MET")
        print(f"{row['metric']:58} {median:>10}{spread:26} {row['unit']:6} {row['goal'] or ''}{verdict}")
    extra = {k: v for k, v in outcome.items() if k != "rows"}
    print(json.dumps(extra, indent=1, default=str))


if __name__ == "__main__":
    main()
