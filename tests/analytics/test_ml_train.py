"""Targets, the time-based split, calibration and its figures, the actionable-risk rule and the promotion
rule."""

import numpy as np
import pandas as pd
import pytest

from analytics.ml.evaluate import (
    calibration_floor,
    calibration_in_the_large,
    ece_interval,
    equal_mass_calibration_error,
    expected_calibration_error,
    reliability_table,
)
from analytics.ml.lifecycle import (
    MIN_VALIDATION_FAILURES,
    decide,
    failure_validation_problems,
    should_promote,
    verdict,
)
from analytics.ml.risk import actionable, flagged_share
from analytics.ml.train import (
    CALIBRATION_MAX_GROUPS,
    CALIBRATION_MIN_SITES,
    FailureModel,
    _beta_terms,
    _classifier,
    calibration_groups,
    centred_isotonic,
    failure_targets,
    model_metadata,
    out_of_fold_scores,
    time_split,
)

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
    assert out["p_fail"].iloc[0] > 0.8 and out["predicted_health"].iloc[0] < 20
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


# --- Calibration figures, on hand-made cases


def test_a_calibrated_forecast_has_no_calibration_error():
    y = np.array([1, 0, 0, 0, 0, 1, 1, 1, 1, 0])  # 1 in 5 at 0.2 (bin 2), 4 in 5 at 0.8 (bin 8)
    p = np.array([0.2] * 5 + [0.8] * 5)
    assert expected_calibration_error(y, p) == pytest.approx(0.0)
    assert [(b["low"], b["rows"], b["predicted"], b["observed"]) for b in reliability_table(y, p)] == [
        (0.2, 5, pytest.approx(0.2), pytest.approx(0.2)), (0.8, 5, pytest.approx(0.8), pytest.approx(0.8)),
    ]  # fmt: skip


def test_the_calibration_error_weighs_each_bins_gap_by_its_rows():
    # 6 rows at 0.9 of which 3 fail (gap 0.4), 2 rows at 0.05 of which none fails (gap 0.05).
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9] * 6 + [0.05] * 2)
    assert expected_calibration_error(y, p) == pytest.approx((6 * 0.4 + 2 * 0.05) / 8)
    assert expected_calibration_error(np.zeros(4), np.full(4, 0.9)) == pytest.approx(0.9)  # cries wolf
    assert reliability_table(np.array([1.0]), np.array([1.0]))[0]["low"] == 0.9  # p = 1 is in the last bin
    assert np.isnan(expected_calibration_error(np.array([]), np.array([])))


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([1, 0], [0.5], "2,.* labels against .*1,.* probabilities"),
        ([1, 2], [0.5, 0.5], "labels must be 0 or 1"),
        ([1, 0], [0.5, 1.5], "within \\[0, 1\\]"),
        ([1, 0], [0.5, float("nan")], "finite"),
    ],
)
def test_calibration_figures_refuse_what_cannot_be_compared(y, p, message):
    with pytest.raises(ValueError, match=f"reliability table: .*{message}"):
        expected_calibration_error(np.array(y, dtype=float), np.array(p, dtype=float))


def test_the_ece_interval_holds_the_estimate_and_widens_when_rows_come_in_correlated_runs():
    rng = np.random.default_rng(0)
    units = np.repeat(np.arange(40), 50)  # 40 units, 50 rows each: a unit fails or not for all its rows
    y = np.repeat((rng.uniform(size=40) < 0.3).astype(float), 50)
    p = np.full(len(y), 0.3)
    low, high = ece_interval(y, p, units)
    assert low <= expected_calibration_error(y, p) <= high
    row_low, row_high = ece_interval(y, p)  # rows taken as independent: a falsely narrow interval
    assert high - low > 3 * (row_high - row_low)
    assert ece_interval(y, p, units) == (low, high)  # reproducible: a fixed seed
    with pytest.raises(ValueError, match="ECE interval: 3 cluster labels for 2000 rows"):
        ece_interval(y, p, units[:3])
    with pytest.raises(ValueError, match="ECE interval: labels must be 0 or 1"):
        ece_interval(np.array([2.0]), np.array([0.5]))


# --- Actionable risk


def test_the_calibration_floor_is_near_zero_when_every_part_fails_at_the_rate_its_scores_imply():
    rng = np.random.default_rng(11)
    raw = [rng.uniform(0.0, 1.0, 5000) for _ in range(3)]
    y = [
        (rng.uniform(size=5000) < r**2).astype(float) for r in raw
    ]  # scores rank, the map r -> r^2 is unknown
    floor = calibration_floor(raw, y)
    assert len(floor) == 3 and max(floor) < 0.03
    assert expected_calibration_error(y[0], raw[0]) > 0.1  # the raw scores themselves are far off


def test_the_calibration_floor_keeps_each_parts_own_failure_rate_which_no_shared_map_removes():
    rng = np.random.default_rng(12)
    raw = [rng.uniform(0.0, 0.4, 5000) for _ in range(2)]
    y = [
        (rng.uniform(size=5000) < r + shift).astype(float) for r, shift in zip(raw, (0.1, -0.1), strict=True)
    ]
    floor = calibration_floor(raw, y)
    assert min(floor) > 0.07  # the shared best map states the two parts' mean rate: each is ~0.1 off
    with pytest.raises(ValueError, match="2 score parts against 1 label parts"):
        calibration_floor(raw, y[:1])
    with pytest.raises(ValueError, match="calibration floor: labels must be 0 or 1"):
        calibration_floor(raw[:1], [y[0] * 2])


def test_only_as_many_units_as_are_expected_to_fail_are_flagged_riskiest_first():
    p = np.array([0.1, 0.9, 0.2, 0.7, 0.1, 0.45, 0.05, 0.1, 0.2, 0.1])  # sum 2.9: about 3 failures expected
    assert actionable(p).tolist() == [False, True, False, True, False, True, False, False, False, False]


def test_a_unit_below_the_floor_is_not_flagged_even_when_failures_are_expected():
    p = np.full(20, 0.25)  # five failures expected, but no unit stands out
    assert not actionable(p).any()
    p = np.array([0.3, 0.3, 0.5, 0.6])  # sum 1.7: two failures expected
    assert actionable(p).tolist() == [False, False, True, True]
    assert actionable(p, min_p=0.55).tolist() == [False, False, False, True]
    assert flagged_share([np.array([0.9, 0.1]), np.array([0.1, 0.1])]) == pytest.approx(0.25)


def test_actionable_refuses_what_is_not_a_probability():
    with pytest.raises(ValueError, match="p_fail must be a flat array of probabilities"):
        actionable(np.array([0.2, 1.2]))
    with pytest.raises(ValueError, match="min_p 2 is not a probability"):
        actionable(np.array([0.2]), min_p=2)


# --- Calibration of a model


def drifting(n: int, seed: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows whose true risk is a logistic curve of vibration; `shift` moves the failure rate between sets."""
    rng = np.random.default_rng(seed)
    vibration = rng.normal(3.0, 1.0, n)
    truth = 1.0 / (1.0 + np.exp(-(2.0 * (vibration - 4.0) + shift)))
    y = (rng.uniform(size=n) < truth).astype(float)
    features = grid(n).assign(
        ts=[T0 + pd.Timedelta(minutes=10 * i) for i in range(n)], unit_id=rng.integers(1, 20, n),
        vibration_mm_s__mean_2h=vibration, hours_since_repair=rng.uniform(0, 50, n),
    )  # fmt: skip
    ttf = np.where(y == 1, rng.uniform(0, 24, n), np.nan)
    targets = pd.DataFrame({"y": y, "rul_h": np.where(y == 1, ttf, 72.0), "ttf_h": ttf, "fail_mode": None})
    return features, targets


def test_out_of_fold_scores_come_from_classifiers_that_never_saw_the_block_or_its_embargo():
    features, targets = drifting(3000, seed=3, shift=0.0)
    x = features[["vibration_mm_s__mean_2h"]].to_numpy()
    y = targets["y"].to_numpy().copy()
    y[:10] = np.nan
    scores = out_of_fold_scores(x, features["ts"], y, horizon_h=24, folds=3)
    assert np.isnan(scores[:10]).all() and np.isfinite(scores[10:]).all()
    since_repair = np.where(np.arange(len(x)) < 2000, np.nan, 5.0)  # no repair seen in the first blocks
    with_blank = out_of_fold_scores(np.column_stack([x, since_repair]), features["ts"], y, horizon_h=24)
    assert np.isfinite(with_blank[10:]).all()
    with pytest.raises(ValueError, match="3000 feature rows, 3000 times, 2 labels"):
        out_of_fold_scores(x, features["ts"], y[:2])


def test_with_sites_each_site_is_scored_by_a_classifier_fitted_on_the_other_sites_only():
    features, targets = drifting(3000, seed=6, shift=0.0)
    x = features[["vibration_mm_s__mean_2h"]].to_numpy()
    y = targets["y"].to_numpy().copy()
    y[-5:] = np.nan
    sites = np.repeat([1, 2, 3], 1000)
    scores = out_of_fold_scores(x, features["ts"], y, groups=sites)
    assert np.isnan(scores[-5:]).all() and np.isfinite(scores[:-5]).all()  # no embargo leaves rows out
    others = (sites != 2) & ~np.isnan(y)
    expected = _classifier(0).fit(x[others], y[others].astype(int)).predict_proba(x[sites == 2])[:, 1]
    assert np.allclose(scores[sites == 2], expected)
    with pytest.raises(ValueError, match="2 group labels for 3000 feature rows"):
        out_of_fold_scores(x, features["ts"], y, groups=sites[:2])


def test_many_sites_are_held_out_in_groups_of_whole_sites():
    features = pd.DataFrame({"site_id": np.repeat(np.arange(100, 100 + 4 * CALIBRATION_MAX_GROUPS), 5)})
    groups = calibration_groups(features)
    assert len(np.unique(groups)) == CALIBRATION_MAX_GROUPS
    for _, rows in features.groupby("site_id"):
        assert len(np.unique(groups[rows.index])) == 1  # a site is never split between groups
    assert np.bincount(groups).tolist() == [4 * 5] * CALIBRATION_MAX_GROUPS  # four sites in each
    few = features.loc[features["site_id"] < 100 + CALIBRATION_MAX_GROUPS]
    assert (calibration_groups(few) == few["site_id"].to_numpy()).all()  # up to the cap: one site each


def test_calibration_holds_out_whole_sites_when_there_are_enough_of_them():
    features, targets = drifting(6000, seed=7, shift=0.0)
    names = ["vibration_mm_s__mean_2h", "hours_since_repair"]
    assert calibration_groups(features) is None  # one site: time blocks
    features["site_id"] = np.arange(6000) % CALIBRATION_MIN_SITES
    model = FailureModel("truck", names).fit(features, targets, calibration="sigmoid")
    report = model.metadata["calibration"]
    assert report["held_out"] == f"{CALIBRATION_MIN_SITES} sites, one left out at a time"
    assert report["rows"] == 6000  # every labelled row scored: no embargo around a held-out site
    unseen, outcome = drifting(6000, seed=8, shift=0.0)
    assert expected_calibration_error(outcome["y"].to_numpy(), model.predict_proba(unseen)) <= 0.05


def test_beta_calibration_keeps_the_order_of_units_and_adds_up_to_the_failures_of_unseen_rows():
    features, targets = drifting(6000, seed=9, shift=0.0)
    names = ["vibration_mm_s__mean_2h", "hours_since_repair"]
    model = FailureModel("truck", names).fit(features, targets, calibration="beta")
    raw = np.linspace(0.001, 0.999, 50)
    mapped = model.calibrator.predict_proba(_beta_terms(raw))[:, 1]
    assert model.calibration == "beta" and np.all(np.diff(mapped) >= 0)  # never reorders units
    unseen, outcome = drifting(6000, seed=10, shift=0.0)
    y, p = outcome["y"].to_numpy(), model.predict_proba(unseen)
    assert expected_calibration_error(y, p) <= 0.05 and p.sum() == pytest.approx(y.sum(), rel=0.1)


def test_equal_mass_bins_hold_equal_rows_and_calibration_in_the_large_is_the_overall_gap():
    p = np.array([0.05] * 8 + [0.5, 0.9])
    y = np.array([0] * 6 + [1, 1] + [0, 1])
    # Two bins of five rows: (0.05 x 5, 0 failing) and (0.05, 0.05, 0.05, 0.5, 0.9; 3 failing).
    assert equal_mass_calibration_error(y, p, bins=2) == pytest.approx((5 * 0.05 + 5 * abs(0.31 - 0.6)) / 10)
    assert calibration_in_the_large(y, p) == pytest.approx(abs(p.mean() - 0.3))
    assert np.isnan(equal_mass_calibration_error(np.array([]), np.array([])))
    with pytest.raises(ValueError, match="equal-mass ECE: labels must be 0 or 1"):
        equal_mass_calibration_error(np.array([2.0]), np.array([0.5]))


def test_centred_isotonic_keeps_units_apart_that_plain_isotonic_ties_and_adds_up_on_unseen_rows():
    features, targets = drifting(6000, seed=9, shift=0.0)
    names = ["vibration_mm_s__mean_2h", "hours_since_repair"]
    model = FailureModel("truck", names).fit(features, targets)  # "auto": centred, however many breakdowns
    assert model.calibration == "centred" and model.metadata["calibration"]["method"] == "centred"
    raw = model.classifier.predict_proba(features[names].to_numpy())[:, 1]
    inner = np.linspace(np.quantile(raw, 0.2), np.quantile(raw, 0.8), 50)
    plain = model.calibrator.__class__(out_of_bounds="clip").fit(raw, targets["y"].to_numpy()).predict(inner)
    mapped = model.calibrator.predict(inner)
    assert np.all(np.diff(mapped) >= 0)  # never reorders units
    assert len(np.unique(mapped)) > len(np.unique(plain))  # and ties fewer of them than the steps would
    unseen, outcome = drifting(6000, seed=10, shift=0.0)
    y, p = outcome["y"].to_numpy(), model.predict_proba(unseen)
    assert expected_calibration_error(y, p) <= 0.05 and p.sum() == pytest.approx(y.sum(), rel=0.1)


def test_centred_isotonic_joins_the_steps_at_their_centres():
    raw = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([0, 0, 1, 0, 1, 1])  # steps: 0 at 0.1-0.2, 0.5 at 0.3-0.4, 1 at 0.5-0.6
    centred = centred_isotonic(raw, y)
    assert centred.predict(np.array([0.15, 0.35, 0.55])) == pytest.approx([0.0, 0.5, 1.0])
    assert centred.predict(np.array([0.25, 0.05, 0.9])) == pytest.approx([0.25, 0.0, 1.0])  # between; clipped


def test_calibrated_probabilities_add_up_to_the_failures_of_unseen_rows():
    features, targets = drifting(6000, seed=4, shift=0.0)
    names = ["vibration_mm_s__mean_2h", "hours_since_repair"]
    model = FailureModel("truck", names).fit(features, targets, calibration="sigmoid")
    unseen, outcome = drifting(6000, seed=5, shift=0.0)
    p = model.predict_proba(unseen)
    y = outcome["y"].to_numpy()
    assert model.calibration == "sigmoid" and model.metadata["calibration"]["rows"] > 4000
    assert expected_calibration_error(y, p) <= 0.05
    assert p.sum() == pytest.approx(y.sum(), rel=0.1)
    with pytest.raises(ValueError, match="calibration 'platt': expected one of auto, isotonic"):
        FailureModel("truck", names).fit(features, targets, calibration="platt")


# --- Promotion


def sound(**changes) -> dict:
    return {"roc_auc": 0.85, "pr_auc": 0.7, "brier": 0.12, "ece": 0.03, "median_lead_h": 8.0,
            "failure_events": 20, **changes}  # fmt: skip


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        (sound(roc_auc=float("nan")), "roc_auc undefined on validation"),
        (sound(ece=None), "ece undefined on validation"),
        (sound(failure_events=3), f"only 3 breakdowns in validation (at least {MIN_VALIDATION_FAILURES}"),
        ({k: v for k, v in sound().items() if k != "failure_events"}, "failure_events not counted"),
        (sound(roc_auc=1.0), "ROC-AUC 1.0000 on validation is suspiciously perfect"),
    ],
)
def test_a_first_model_with_degenerate_validation_is_not_activated_and_says_why(metrics, reason):
    promote, report = decide(metrics, None, {"roc_auc": True}, force=False, gate=failure_validation_problems)
    forced, _ = decide(metrics, None, {"roc_auc": True}, force=True, gate=failure_validation_problems)
    assert not promote and not forced
    assert any(reason in problem for problem in report["refused"])
    assert verdict(report).startswith("not activated: ") and reason in verdict(report)


def test_a_model_that_extends_the_active_ones_data_is_activated_past_the_gate_without_a_comparison():
    why = "refines the bootstrap's first model on 24 simulated sites"
    rules, gate = {"roc_auc": True}, failure_validation_problems
    promote, report = decide(sound(roc_auc=0.80), sound(), rules, force=False, gate=gate, extends=why)
    assert promote and verdict(report) == why and "by_metric" not in report
    promote, report = decide(sound(failure_events=2), sound(), rules, force=False, gate=gate, extends=why)
    assert not promote and verdict(report).startswith("not activated: only 2 breakdowns")


def test_a_sound_first_model_is_activated_and_a_worse_later_one_only_when_forced():
    assert failure_validation_problems(sound()) == []
    promote, report = decide(sound(), None, {"roc_auc": True}, force=False, gate=failure_validation_problems)
    assert promote and verdict(report) == "first model of its kind"
    worse = sound(roc_auc=0.80)
    assert not decide(worse, sound(), {"roc_auc": True}, force=False, gate=failure_validation_problems)[0]
    promote, report = decide(worse, sound(), {"roc_auc": True}, force=True, gate=failure_validation_problems)
    assert promote and verdict(report) == "forced"
    assert not should_promote(sound(roc_auc=0.9999), sound(), gate=failure_validation_problems)[0]


def test_risk_never_falls_as_a_unit_ages_since_its_last_service():
    """Wear-out physics: a unit's risk may only rise with its hours since service, whatever few breakdowns
    the training rows hold (here, by chance, none among the oldest units)."""
    rng = np.random.default_rng(4)
    n = 4000
    age = rng.uniform(0.0, 200.0, n)
    noise = rng.normal(0.0, 1.0, n)
    y = ((age > 60) & (age < 140) & (rng.random(n) < 0.5)).astype(float)  # a hump, not wear-out
    features = pd.DataFrame({"site_id": 1, "unit_kind": "loader", "unit_id": np.arange(n) % 5,
                             "ts": [T0 + pd.Timedelta(minutes=10 * i) for i in range(n)],
                             "hours_since_repair": age, "vibration": noise})  # fmt: skip
    targets = pd.DataFrame({"y": y, "rul_h": np.where(y == 1, 10.0, 72.0)})
    names = ["hours_since_repair", "vibration"]
    model = FailureModel("loader", names).fit(features, targets, calibration="none")

    ages = np.linspace(0.0, 200.0, 41)
    rows = pd.DataFrame({"hours_since_repair": ages, "vibration": 0.0})
    p = model.classifier.predict_proba(rows.to_numpy())[:, 1]
    assert (np.diff(p) >= -1e-12).all()
    unconstrained = _classifier(0).fit(features[names].to_numpy(), y.astype(int))
    assert (np.diff(unconstrained.predict_proba(rows.to_numpy())[:, 1]) < -0.05).any()  # what it prevents
