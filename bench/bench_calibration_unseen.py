"""Failure-risk calibration per equipment kind on unseen test seeds: the issue's goal figures and their floor.

One model per kind, trained as `train_failure_model` trains it: trucks on seeds 1-6, crushers and loaders on
seeds 1-24 (the bootstrap refines those two kinds on ML_BOOTSTRAP_REFINE_SEEDS site-weeks), one week each;
scored on test seeds 101-124, raw classifier scores beside the calibrated probabilities of the same
classifier. Per kind, and for the whole site (every unit of every kind, as the control room sees it and as
the maintenance advice ranks them): per-seed ECE (median, min-max), the ECE of all test rows pooled with its
90 % interval (whole units resampled), calibration in the large, Brier, ROC-AUC, the share of units flagged
for maintenance (analytics.ml.risk.actionable per 10-min snapshot) against the share failing, the floor
(per-seed ECE of the best monotone map fitted on the test seeds' own outcomes), the per-bin counts of the
pooled rows, and the breakdowns behind the figures (sudden ones, developing ones under 12 h of warning).
Run: OMP_NUM_THREADS=1 .venv/bin/python -m bench.bench_calibration_unseen [--kinds truck,crusher,loader]
[--train-seeds 1-6] [--refined-seeds 1-24] [--test-seeds 101-124] (seeds as 1-6 or 1,2,5).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score

from analytics.ml import risk
from analytics.ml.evaluate import (
    calibration_floor,
    calibration_in_the_large,
    ece_interval,
    expected_calibration_error,
    reliability_table,
)
from analytics.ml.history import History, simulate_histories
from analytics.ml.pipeline import prepare
from analytics.ml.train import train_failure_model
from bench.bench_ml import DAYS

SHORT_WARNING_H = 12.0


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def breakdowns(histories: list[History], kind: str) -> str:
    """How predictable the failures of a set of site-weeks were: sudden ones and short run-ups rank low."""
    labels = pd.concat([h.labels for h in histories], ignore_index=True)
    faults = labels.loc[
        (labels["unit_kind"] == kind) & labels["category"].isin(["developing_fault", "sudden_failure"])
    ]
    lead_h = (faults["end"] - faults["start"]).dt.total_seconds() / 3600.0
    developing = faults["category"] == "developing_fault"
    return (
        f"{len(faults)} faults, {int((~developing).sum())} sudden, "
        f"{int((developing & (lead_h < SHORT_WARNING_H)).sum())} developing with under "
        f"{SHORT_WARNING_H:.0f} h of warning, median run-up {lead_h[developing].median():.1f} h"
    )


def flagged_share(features: pd.DataFrame, p: np.ndarray) -> float:
    """Share of the scored unit-snapshots that the advice rule flags (risk.flagged_share; the units scored at
    one site and 10-min time are one snapshot)."""
    snapshots = pd.DataFrame(
        {"site_id": features["site_id"].to_numpy(), "ts": features["ts"].to_numpy(), "p": p}
    )
    return risk.flagged_share([g["p"].to_numpy() for _, g in snapshots.groupby(["site_id", "ts"])])


def seed_list(text: str) -> list[int]:
    """Seeds from "1,2,5" or "1-24" (or both: "1-6,9")."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds += list(range(int(low), int(high or low) + 1))
    return seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="truck,crusher,loader")
    parser.add_argument("--train-seeds", default="1-6", help="trucks' training site-weeks, e.g. 1-6 or 1,2,5")
    parser.add_argument(
        "--refined-seeds", default="1-24",  # as many as settings.ML_BOOTSTRAP_REFINE_SEEDS
        help="crushers' and loaders' training site-weeks (the kinds the bootstrap refines on more)",
    )  # fmt: skip
    parser.add_argument("--test-seeds", default="101-124", help="unseen site-weeks scored")
    args = parser.parse_args()
    kinds, test_seeds = args.kinds.split(","), seed_list(args.test_seeds)
    train_seeds = {
        kind: seed_list(args.train_seeds if kind == "truck" else args.refined_seeds) for kind in kinds
    }
    every = sorted(set().union(*train_seeds.values()))
    simulated = dict(zip(every, simulate_histories(every, DAYS, workers=2), strict=True))
    test = simulate_histories(test_seeds, DAYS, workers=2)
    site_parts: dict[str, list] = {}
    for kind in kinds:
        train = [simulated[seed] for seed in train_seeds[kind]]
        features, targets = prepare(train, kind)
        started = time.perf_counter()
        model, _ = train_failure_model(features, targets, kind)
        trained_s = time.perf_counter() - started
        parts = []
        for history in test:
            f, t = prepare([history], kind)
            known = t["y"].notna().to_numpy()
            f = f.loc[known].reset_index(drop=True)
            raw = model.classifier.predict_proba(model._matrix(f))[:, 1]
            parts.append((f, t["y"].to_numpy()[known], raw, model.predict_proba(f)))
        site_parts[kind] = parts
        shares = ", ".join(f"{y.mean():.3f}" for _, y, _, _ in parts)
        seen = targets["y"].notna()
        seeds = train_seeds[kind]
        print(f"== {kind}: trained on {len(train)} site-weeks ({seeds[0]}-{seeds[-1]}) in {trained_s:.0f} s "
              f"(failing share {targets.loc[seen, 'y'].mean():.3f}; {breakdowns(train, kind)}), "
              f"calibration {model.metadata['calibration']}")  # fmt: skip
        print(f"   test {args.test_seeds}: failing share per seed {shares}; {breakdowns(test, kind)}")
        report(parts)
    if len(site_parts) > 1:
        # The site as the control room sees it: every unit of every kind, the advice rule across all of them.
        whole = []
        for i in range(len(test)):
            rows = [site_parts[kind][i][0] for kind in site_parts]
            units = pd.concat(
                [f[["site_id", "ts"]].assign(unit_id=f"{kind}-" + f["unit_id"].astype(str))
                 for kind, f in zip(site_parts, rows, strict=True)],
                ignore_index=True,
            )  # fmt: skip
            arrays = (np.concatenate([site_parts[kind][i][c] for kind in site_parts]) for c in (1, 2, 3))
            whole.append((units, *arrays))
        print(
            f"== the site, all of {', '.join(site_parts)} together (one snapshot = every unit scored at once)"
        )
        report(whole)


def report(parts: list) -> None:
    """Per-seed and pooled figures of (features, y, raw, calibrated) per test seed, raw beside calibrated."""
    y = np.concatenate([y for _, y, _, _ in parts])
    units = np.concatenate(
        [(f["site_id"].astype(str) + "/" + f["unit_id"].astype(str)).to_numpy() for f, *_ in parts]
    )
    for label, column in (("raw scores", 2), ("calibrated", 3)):
        p = np.concatenate([part[column] for part in parts])
        ece = [expected_calibration_error(part[1], part[column]) for part in parts]
        brier = [brier_score_loss(part[1], part[column]) for part in parts]
        auc = [roc_auc_score(part[1], part[column]) for part in parts]
        flagged = [flagged_share(part[0], part[column]) for part in parts]
        ratio = [share / part[1].mean() for share, part in zip(flagged, parts, strict=True)]
        flagged_rows = sum(share * len(part[1]) for share, part in zip(flagged, parts, strict=True))
        low, high = ece_interval(y, p, units)
        pooled = expected_calibration_error(y, p)
        large = calibration_in_the_large(y, p)
        print(f"   {label:10} per-seed ECE {_median(ece)}  Brier {_median(brier)}  "
              f"ROC-AUC {_median(auc)}  flagged/failing {_median(ratio)} | pooled ECE {pooled:.3f} "
              f"(90 % {low:.3f}-{high:.3f}) in the large {large:.3f}  Brier {brier_score_loss(y, p):.4f}  "
              f"ROC-AUC {roc_auc_score(y, p):.3f}  flagged/failing "
              f"{flagged_rows / y.sum():.3f}",
              flush=True)  # fmt: skip
    floor = calibration_floor([part[2] for part in parts], [part[1] for part in parts])
    print(f"   floor: per-seed ECE, best monotone map fitted on the test seeds' outcomes {_median(floor)}")
    calibrated = np.concatenate([part[3] for part in parts])
    print("   pooled bins (rows, stated, observed): " + "; ".join(
        f"{b['low']:.1f}-{b['high']:.1f}: {b['rows']}, {b['predicted']:.3f}, {b['observed']:.3f}"
        for b in reliability_table(y, calibrated)
    ))  # fmt: skip


if __name__ == "__main__":
    main()
