"""Model artifacts on disk without unpickling untrusted code: skops format, checked by SHA-256 before loading.

A model is stored as a plain bundle (dicts, lists, numbers and scikit-learn/NumPy objects); skops refuses any
type outside that allow-list, and the file's hash, recorded by the registry at save time, must match before
it is even parsed. A tampered or swapped file raises ArtifactError.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import skops.io as sio

from analytics.ml.anomaly import AnomalyModel
from analytics.ml.train import FailureModel

FORMAT = "smartmine-ml/1"
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "scipy.")
_MODEL_TYPES: dict[str, type] = {"FailureModel": FailureModel, "AnomalyModel": AnomalyModel}


class ArtifactError(Exception):
    """The artifact is missing, altered, or holds something other than a SmartMine model."""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def to_bundle(model: Any) -> dict:
    """A model as plain data: our dataclasses become {"type", "state"}; anything else is stored as is."""
    name = type(model).__name__
    if name in _MODEL_TYPES and isinstance(model, _MODEL_TYPES[name]):
        state = {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}
        return {"format": FORMAT, "type": name, "state": state}
    return {"format": FORMAT, "type": "object", "state": model}


def from_bundle(bundle: dict) -> Any:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ArtifactError("not a SmartMine model artifact")
    if bundle["type"] == "object":
        return bundle["state"]
    cls = _MODEL_TYPES.get(bundle["type"])
    if cls is None:
        raise ArtifactError(f"unknown model type {bundle['type']!r}")
    return cls(**bundle["state"])


def save_artifact(model: Any, path: str | os.PathLike) -> str:
    """Write the model to path (atomically) and return the file's SHA-256 for the registry to keep."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    sio.dump(to_bundle(model), partial)
    os.replace(partial, path)
    return sha256_of(path)


def load_artifact(path: str | os.PathLike, sha256: str) -> Any:
    """Load a model saved by save_artifact, only if its bytes still hash to `sha256`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read model artifact {path}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(actual, str(sha256).lower()):
        raise ArtifactError(
            f"model artifact {path} does not match its recorded SHA-256 (tampered or replaced)"
        )
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises several types for a malformed archive
        raise ArtifactError(f"model artifact {path} is not a valid skops file: {exc}") from exc
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ArtifactError(f"model artifact {path} holds types outside the allow-list: {', '.join(refused)}")
    return from_bundle(sio.loads(data, trusted=untrusted))
