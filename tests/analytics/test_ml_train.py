"""Targets, the time-based split, and the promotion rule."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml.lifecycle import should_promote
from analytics.ml.train import FailureModel, failure_targets, model_metadata, time_split

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def grid(hours: int, down: set[int] = frozenset()) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site_id": 1,
            "unit_kind": "truck",
            "unit_id": 3,
            "ts": [T0 + pd.Timedelta(hours=h) for h in range(hours)],
            "is_down": [h in down for h in range(hours)],
        }
    )


def test_rows_within_the_horizon_of_a_breakdown_are_positive():
    events = pd.DataFrame(
        {"site_id": [1], "ts": [T0 + pd.Timedelta(hours=30)], "kind": ["breakdown"], "unit_kind": ["truck"],
         "unit_id": [3], "data": [{"mode": "bearing_wear"}]}
    )  # fmt: skip
    targets = failure_targets(grid(100, down={30, 31}), events, T0 + pd.Timedelta(hours=100), horizon_h=24)
    assert targets["y"].iloc[5] == 0 and targets["y"].iloc[6] == 1 and targets["y"].iloc[29] == 1
    assert np.isnan(targets["y"].iloc[30])  # down: not scored
    assert targets["y"].iloc[40] == 0
    assert np.isnan(targets["y"].iloc[80])  # fewer than 24 h left and no failure seen: censored
    assert targets["ttf_h"].iloc[10] == pytest.approx(20.0)
    assert targets["rul_h"].iloc[0] == pytest.approx(30.0)
    assert targets["fail_mode"].iloc[10] == "bearing_wear"


def test_a_history_without_a_breakdown_has_no_positive_and_no_error():
    """Events of other kinds only (a fresh site): the breakdown frame is empty, its keys object-typed."""
    events = pd.DataFrame(
        {"site_id": [1], "ts": [T0 + pd.Timedelta(hours=3)], "kind": ["refuelled"], "unit_kind": ["truck"],
         "unit_id": [3], "data": [{}]}
    )  # fmt: skip
    features = grid(50).astype({"unit_kind": "string"})
    targets = failure_targets(features, events, T0 + pd.Timedelta(hours=50), horizon_h=24)
    assert targets["ttf_h"].isna().all()
    assert (targets["y"].iloc[:26] == 0).all() and targets["y"].iloc[27:].isna().all()


def test_every_validation_row_is_after_every_training_row_and_the_embargo():
    ts = pd.Series([T0 + pd.Timedelta(minutes=10 * i) for i in range(1000)]).sample(frac=1.0, random_state=1)
    train, valid, cut = time_split(ts, valid_share=0.3, embargo_h=24)
    assert train.any() and valid.any() and not (train & valid).any()
    assert ts[train].max() < ts[valid].min()
    assert ts[train].max() + pd.Timedelta(hours=24) <= cut < ts[valid].min()


def test_a_candidate_no_worse_on_every_metric_is_promoted():
    active = {"roc_auc": 0.80, "pr_auc": 0.60, "brier": 0.15, "median_lead_h": 8.0}
    promote, report = should_promote({**active, "roc_auc": 0.82}, active)
    assert promote and report["candidate"]["roc_auc"] == 0.82 and report["active"]["roc_auc"] == 0.80


def test_a_candidate_worse_on_one_metric_is_not_promoted():
    active = {"roc_auc": 0.80, "pr_auc": 0.60, "brier": 0.15, "median_lead_h": 8.0}
    promote, report = should_promote({**active, "roc_auc": 0.9, "brier": 0.16}, active)
    assert not promote
    assert report["by_metric"]["brier"]["ok"] is False and report["by_metric"]["roc_auc"]["ok"] is True
    assert should_promote({**active, "brier": 0.16}, active, tolerance=0.02)[0]


def test_the_first_model_is_promoted_but_not_one_with_missing_metrics():
    assert should_promote({"roc_auc": 0.7, "pr_auc": 0.5, "brier": 0.2, "median_lead_h": 3.0}, None)[0]
    assert not should_promote(
        {"roc_auc": float("nan"), "pr_auc": 0.5, "brier": 0.2, "median_lead_h": 3}, None
    )[0]


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    vibration = rng.normal(3.0, 1.0, n)
    y = (vibration + rng.normal(0, 0.5, n) > 4.0).astype(float)
    features = grid(n).assign(vibration_mm_s__mean_2h=vibration, hours_since_repair=rng.uniform(0, 50, n))
    targets = pd.DataFrame(
        {"y": y, "rul_h": np.where(y == 1, 10.0, 72.0), "ttf_h": np.nan, "fail_mode": None}
    )
    return features, targets


def test_a_model_predicts_risk_health_and_names_the_signal_behind_it():
    features, targets = synthetic(3000, seed=1)
    model = FailureModel("truck", ["vibration_mm_s__mean_2h", "hours_since_repair"]).fit(features, targets)
    high = features.iloc[[0]].assign(vibration_mm_s__mean_2h=8.0)
    out = model.predict(high)
    assert out["p_fail"].iloc[0] > 0.8 and out["health"].iloc[0] < 20
    assert out["top_factors"].iloc[0][0][0] == "vibration_mm_s"
    metadata = model_metadata(kind="failure_truck", features=features, feature_names=model.feature_names,
                              metrics={"roc_auc": 0.9, "brier": float("nan")})  # fmt: skip
    assert metadata["feature_names"] == ["vibration_mm_s__mean_2h", "hours_since_repair"]
    assert metadata["metrics"]["brier"] is None and metadata["training_window"]["start"].startswith(
        "2026-01-01"
    )


def test_the_ml_core_never_imports_django():
    import pathlib

    for path in pathlib.Path("analytics/ml").glob("*.py"):
        text = path.read_text()
        assert "import django" not in text and "from django" not in text, path
