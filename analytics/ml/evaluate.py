"""Metrics of the failure models (ranking, calibration, RUL, warning lead) and anomaly events."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from analytics.ml.features import KEYS

WARNING_GAP_ROWS = 2  # a warning that blinks off for up to this many rows is still one warning
MATCH_TOLERANCE = pd.Timedelta(minutes=2)  # two readings: a detection may trail the injected span slightly
TOP_K = {"truck": 3, "crusher": 1, "loader": 1}
CALIBRATION_BINS = 10  # equal-width bins of predicted probability for ECE and the reliability table


def _checked(y: np.ndarray, p: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities as float arrays, refused with a message naming `where` when they cannot be
    compared (different lengths, labels other than 0/1, probabilities outside [0, 1] or not finite)."""
    y, p = np.asarray(y, dtype="float64"), np.asarray(p, dtype="float64")
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"{where}: {y.shape} labels against {p.shape} probabilities")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"{where}: labels must be 0 or 1 (unlabelled rows are dropped before)")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError(f"{where}: probabilities must be finite and within [0, 1]")
    return y, p


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Per non-empty equal-width bin of predicted probability: its bounds, rows, mean predicted and observed
    failure rate. A calibrated model has the two close in every bin (the reliability figure)."""
    y, p = _checked(y, p, "reliability table")
    index = np.minimum((p * bins).astype(int), bins - 1)
    table = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            table.append(
                {"low": b / bins, "high": (b + 1) / bins, "rows": int(mask.sum()),
                 "predicted": float(p[mask].mean()), "observed": float(y[mask].mean())}
            )  # fmt: skip
    return table


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Row-weighted mean gap |mean predicted - observed rate| over equal-width probability bins: how far, on
    average, a stated risk is from the failure rate that follows it (0 = calibrated). NaN with no rows."""
    table = reliability_table(y, p, bins)
    rows = sum(b["rows"] for b in table)
    if not rows:
        return float("nan")
    return float(sum(b["rows"] * abs(b["predicted"] - b["observed"]) for b in table) / rows)


def equal_mass_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """ECE over bins holding equal numbers of rows (sorted by p) instead of equal widths: when most rows sit
    at low risk, equal-width bins leave the middle bins with a few rows from one or two run-ups each and
    one wide bin holding nearly everything. Reported beside the equal-width ECE, never instead of it."""
    y, p = _checked(y, p, "equal-mass ECE")
    if not len(y):
        return float("nan")
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, min(bins, len(y)))
    return float(sum(len(r) * abs(p[r].mean() - y[r].mean()) for r in parts) / len(y))


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> float:
    """|mean predicted - observed rate| over all rows: the part of the ECE no bin can fix, because the whole
    site fails more (or less) often than the rows the calibration was fitted on (a class-prior shift)."""
    y, p = _checked(y, p, "calibration in the large")
    return float(abs(p.mean() - y.mean())) if len(y) else float("nan")


def ece_interval(
    y: np.ndarray,
    p: np.ndarray,
    clusters: np.ndarray | None = None,
    *,
    draws: int = 500,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float]:
    """Bootstrap interval (two-sided `level`) of the expected calibration error.

    Rows of one unit's run-up are not independent (one breakdown labels a whole horizon of rows), so with
    `clusters` (one label per row, e.g. site and unit) whole clusters are resampled: with few breakdowns the
    10-bin ECE moves a lot between draws, and a goal is met only when the interval says so."""
    y, p = _checked(y, p, "ECE interval")
    if not len(y):
        return float("nan"), float("nan")
    if not 0.0 < level < 1.0 or draws < 1:
        raise ValueError(f"ECE interval: level {level!r} must be within (0, 1) and draws {draws!r} positive")
    clusters = np.arange(len(y)) if clusters is None else np.asarray(clusters)
    if len(clusters) != len(y):
        raise ValueError(f"ECE interval: {len(clusters)} cluster labels for {len(y)} rows")
    names, index = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(index == i) for i in range(len(names))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        values.append(expected_calibration_error(y[rows], p[rows]))
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(values, [tail, 100.0 - tail])
    return float(low), float(high)


def calibration_floor(
    raw: list[np.ndarray], y: list[np.ndarray], bins: int = CALIBRATION_BINS
) -> list[float]:
    """ECE of each part (e.g. each test site-week) under the best monotone map of these scores, fitted on all
    parts' own outcomes (in-sample isotonic regression): no calibrator of these scores, however it is fitted,
    can expect to do better on those parts. What remains is each part's own failure rate and the failures the
    scores do not rank, not the calibration method."""
    if len(raw) != len(y) or not raw:
        raise ValueError(f"calibration floor: {len(raw)} score parts against {len(y)} label parts")
    checked = [_checked(labels, scores, "calibration floor") for labels, scores in zip(y, raw, strict=True)]
    pooled_y = np.concatenate([labels for labels, _ in checked])
    pooled_raw = np.concatenate([scores for _, scores in checked])
    best = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(pooled_raw, pooled_y)
    return [expected_calibration_error(labels, best.predict(scores), bins) for labels, scores in checked]


def failure_events(scored: pd.DataFrame, targets: pd.DataFrame) -> int:
    """Distinct breakdowns that labelled positive rows lead to: the independent evidence behind the figures
    (one failure makes a whole horizon of positive rows)."""
    positive = (targets["y"] == 1).to_numpy() & targets["ttf_h"].notna().to_numpy()
    if not positive.any():
        return 0
    frame = scored.loc[positive, [k for k in KEYS if k in scored]].copy()
    frame["fail_ts"] = (
        scored.loc[positive, "ts"] + pd.to_timedelta(targets.loc[positive, "ttf_h"].to_numpy(), unit="h")
    ).dt.round("1min")
    return len(frame.drop_duplicates())


def precision_at_k(scored: pd.DataFrame, y: np.ndarray, k: int) -> float:
    """Mean over snapshots (site, ts) of the share of the k riskiest units that fail within the horizon."""
    frame = scored[["site_id", "ts", "p_fail"]].assign(y=y)
    frame = frame.loc[frame["y"].notna()]
    ranked = frame.sort_values("p_fail", ascending=False, kind="stable").groupby(["site_id", "ts"]).head(k)
    return float(ranked["y"].mean()) if len(ranked) else float("nan")


def warning_leads(scored: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """One row per failure seen in the rows: its mode and the lead (h) of the warning run that reaches it
    (0 when the unit was not in warning just before it failed)."""
    frame = scored[[*KEYS, "ts", "warning"]].assign(
        ttf_h=targets["ttf_h"].to_numpy(), mode=targets["fail_mode"]
    )
    frame = frame.loc[frame["ttf_h"].notna()].copy()
    frame["fail_ts"] = (frame["ts"] + pd.to_timedelta(frame["ttf_h"], unit="h")).dt.round("1s")
    rows = []
    for (site_id, unit_kind, unit_id, fail_ts), group in frame.groupby([*KEYS, "fail_ts"], sort=False):
        group = group.sort_values("ts")
        warn = group["warning"].to_numpy(dtype=bool)
        lead_h = 0.0
        if warn[-WARNING_GAP_ROWS - 1 :].any():
            last = len(warn) - 1 - int(np.argmax(warn[::-1]))
            first, gap = last, 0
            for i in range(last - 1, -1, -1):
                if warn[i]:
                    first, gap = i, 0
                elif (gap := gap + 1) > WARNING_GAP_ROWS:
                    break
            lead_h = (fail_ts - group["ts"].iloc[first]).total_seconds() / 3600.0
        rows.append(
            {"site_id": site_id, "unit_kind": unit_kind, "unit_id": unit_id, "fail_ts": fail_ts,
             "mode": group["mode"].iloc[-1], "lead_h": lead_h, "observed_h": group["ttf_h"].max()}
        )  # fmt: skip
    return pd.DataFrame(rows)


def failure_metrics(
    scored: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    threshold: float,
    horizon_h: float,
    k: int | None = None,
) -> dict:
    """ROC-AUC, PR-AUC, Brier, calibration (ECE, reliability table, expected vs observed positive rows),
    precision@k, RUL MAE and warning lead time of scored rows against targets;
    `horizon_h` is the scored model's own (FailureModel.horizon_h): it bounds the failures the RUL error and
    the warning lead are measured on."""
    kind = str(scored["unit_kind"].iloc[0]) if len(scored) else "truck"
    k = k or TOP_K.get(kind, 1)
    y = targets["y"].to_numpy()
    known = ~np.isnan(y)
    p = scored["p_fail"].to_numpy()
    both = len(np.unique(y[known])) == 2
    leads = warning_leads(scored.assign(warning=p >= threshold), targets)
    # Only failures whose run-up lies inside the data can show a full lead time.
    leads = leads.loc[leads["observed_h"] >= horizon_h / 2] if len(leads) else leads
    developing = leads.loc[leads["mode"] != "sudden_failure"] if len(leads) else leads
    near = known & (targets["ttf_h"].to_numpy() <= horizon_h)
    rul_known = targets["rul_h"].notna().to_numpy()
    rul_err = np.abs(scored["rul_h"].to_numpy() - targets["rul_h"].to_numpy())
    warned = p[known] >= threshold
    return {
        "rows": int(known.sum()),
        "positives": int(np.sum(y[known] == 1)),
        "failure_events": failure_events(scored, targets),
        "positive_share": float(np.mean(y[known])) if known.any() else float("nan"),
        "roc_auc": float(roc_auc_score(y[known], p[known])) if both else float("nan"),
        "pr_auc": float(average_precision_score(y[known], p[known])) if both else float("nan"),
        "brier": float(brier_score_loss(y[known], p[known])) if known.any() else float("nan"),
        "ece": expected_calibration_error(y[known], p[known]),
        "expected_positives": float(np.sum(p[known])),  # to compare with "positives": equal when calibrated
        "reliability": reliability_table(y[known], p[known]),
        f"precision_at_{k}": precision_at_k(scored, y, k),
        "warning_precision": float(np.mean(y[known][warned])) if warned.any() else float("nan"),
        "warning_recall": float(np.mean(warned[y[known] == 1])) if (y[known] == 1).any() else float("nan"),
        "rul_mae_h": float(np.mean(rul_err[near])) if near.any() else float("nan"),
        "rul_mae_all_h": float(np.mean(rul_err[rul_known])) if rul_known.any() else float("nan"),
        "failures": len(leads),
        "median_lead_h": float(leads["lead_h"].median()) if len(leads) else float("nan"),
        "median_lead_developing_h": float(developing["lead_h"].median()) if len(developing) else float("nan"),
        "warned_4h_share": float(np.mean(leads["lead_h"] >= 4.0)) if len(leads) else float("nan"),
        "threshold": float(threshold),
    }


def anomaly_event_metrics(
    detected: pd.DataFrame, labels: pd.DataFrame, *, tolerance: pd.Timedelta = MATCH_TOLERANCE
) -> dict:
    """Event-level precision/recall of detected anomalies against injected sensor anomalies.

    A detection is correct when it overlaps (± tolerance) an injected anomaly on the same unit. Detections
    that overlap only a developing fault of the same unit are left out of precision (the maintenance model
    owns those) and counted separately."""
    truth = labels.loc[labels["category"] == "sensor_anomaly"]
    developing = labels.loc[labels["category"] == "developing_fault"]
    keys = [k for k in KEYS if k in detected and k in labels]

    def overlaps(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
        if a.empty or b.empty:
            return np.zeros(len(a), dtype=bool)
        pairs = a.reset_index(names="_row").merge(b, on=keys, suffixes=("", "_b"))
        hit = (pairs["start"] <= pairs["end_b"] + tolerance) & (pairs["end"] + tolerance >= pairs["start_b"])
        rows = set(pairs.loc[hit, "_row"])
        return np.array([i in rows for i in range(len(a))], dtype=bool)

    detected = detected.reset_index(drop=True)
    found = overlaps(truth[[*keys, "start", "end"]].reset_index(drop=True), detected[[*keys, "start", "end"]])
    correct = overlaps(detected[[*keys, "start", "end"]], truth[[*keys, "start", "end"]])
    on_fault = ~correct & overlaps(detected[[*keys, "start", "end"]], developing[[*keys, "start", "end"]])
    counted = len(detected) - int(on_fault.sum())
    by_label = {}
    for name, group in truth.reset_index(drop=True).groupby("label"):
        by_label[str(name)] = float(found[group.index].mean())
    return {
        "true_anomalies": len(truth),
        "detected_events": len(detected),
        "precision": float(correct.sum() / counted) if counted else float("nan"),
        "recall": float(found.mean()) if len(truth) else float("nan"),
        "on_developing_fault": int(on_fault.sum()),
        "recall_by_label": by_label,
    }
