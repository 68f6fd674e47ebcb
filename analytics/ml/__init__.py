"""Pure machine-learning core (pandas, scikit-learn, NumPy; no Django): maintenance features and models,
anomaly detection, evaluation and the artifact/promotion pieces of the model lifecycle. See docs/ml.md."""

from analytics.ml.anomaly import AnomalyModel, detect_anomalies, fit_anomaly_models
from analytics.ml.artifacts import ArtifactError, load_artifact, save_artifact
from analytics.ml.evaluate import anomaly_event_metrics, failure_metrics
from analytics.ml.features import build_features, latest_rows
from analytics.ml.lifecycle import should_promote
from analytics.ml.train import (
    FailureModel,
    NotEnoughFailures,
    failure_targets,
    model_metadata,
    time_split,
    train_failure_model,
)

__all__ = [
    "AnomalyModel",
    "ArtifactError",
    "FailureModel",
    "NotEnoughFailures",
    "anomaly_event_metrics",
    "build_features",
    "detect_anomalies",
    "failure_metrics",
    "failure_targets",
    "fit_anomaly_models",
    "latest_rows",
    "load_artifact",
    "model_metadata",
    "save_artifact",
    "should_promote",
    "time_split",
    "train_failure_model",
]
