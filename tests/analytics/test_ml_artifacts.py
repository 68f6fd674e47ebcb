"""Artifacts load only when their bytes match the recorded SHA-256 and hold allowed types."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from analytics.ml.artifacts import ArtifactError, load_artifact, save_artifact
from analytics.ml.train import FailureModel


def fitted() -> LogisticRegression:
    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    return LogisticRegression().fit(x, [0, 0, 1, 1])


def test_it_round_trips_a_model_by_its_hash(tmp_path):
    model = FailureModel("crusher", ["a"], threshold=0.4, metadata={"kind": "failure_crusher"})
    model.classifier = fitted()
    sha = save_artifact(model, tmp_path / "m.skops")
    loaded = load_artifact(tmp_path / "m.skops", sha)
    assert (
        isinstance(loaded, FailureModel)
        and loaded.threshold == 0.4
        and loaded.metadata["kind"] == "failure_crusher"
    )
    assert loaded.classifier.predict([[3.0]])[0] == 1


def test_it_refuses_a_tampered_file(tmp_path):
    path = tmp_path / "m.skops"
    sha = save_artifact(fitted(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="SHA-256"):
        load_artifact(path, sha)


def test_it_refuses_a_file_whose_hash_was_recorded_for_another(tmp_path):
    sha = save_artifact(fitted(), tmp_path / "a.skops")
    save_artifact({"weights": [1, 2]}, tmp_path / "b.skops")
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path / "b.skops", sha)


def test_it_refuses_a_pickle_even_with_its_correct_hash(tmp_path):
    import hashlib
    import pickle

    path = tmp_path / "evil.skops"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ArtifactError):
        load_artifact(path, hashlib.sha256(path.read_bytes()).hexdigest())
