"""End to end on histories: features and targets for many sites, training per kind, scoring unseen sites."""

from __future__ import annotations

import pandas as pd

from analytics.ml.evaluate import failure_metrics
from analytics.ml.features import build_features
from analytics.ml.history import History
from analytics.ml.train import (
    HORIZON_H,
    FailureModel,
    NotEnoughFailures,
    failure_targets,
    train_failure_model,
)

MAINTAINED_KINDS = ("truck", "crusher", "loader")


def prepare(
    histories: list[History], kind: str, every: str = "10min", horizon_h: float = HORIZON_H
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and targets of one equipment kind over several histories (sites), row-aligned."""
    feature_parts, target_parts = [], []
    for history in histories:
        readings = history.readings.get(kind)
        features = build_features(
            readings, history.events, kind, every=every, start=history.meta["start"], end=history.meta["end"]
        )
        feature_parts.append(features)
        target_parts.append(failure_targets(features, history.events, history.meta["end"], horizon_h))
    features = pd.concat(feature_parts, ignore_index=True)
    targets = pd.concat(target_parts, ignore_index=True)
    return features, targets


def train_models(
    histories: list[History], kinds: tuple[str, ...] = MAINTAINED_KINDS, **kwargs
) -> dict[str, FailureModel]:
    """One failure model per kind, trained with a time-based validation split (see train_failure_model).

    A kind whose earlier part holds no failure is left out (short histories often have no loader failure)."""
    models = {}
    for kind in kinds:
        features, targets = prepare(histories, kind)
        try:
            models[kind], _ = train_failure_model(features, targets, kind, **kwargs)
        except NotEnoughFailures:
            continue
    return models


def evaluate_models(models: dict[str, FailureModel], histories: list[History]) -> dict[str, dict]:
    """Metrics of each model on other histories (unseen seeds), at the threshold chosen in training."""
    results = {}
    for kind, model in models.items():
        features, targets = prepare(histories, kind, horizon_h=model.horizon_h)
        scored = model.predict(features, top_factors=0)
        results[kind] = failure_metrics(scored, targets, threshold=model.threshold, horizon_h=model.horizon_h)
    return results
