"""The model registry: trained versions on disk (checked by SHA-256), which one is active, and retraining.

A retrained model replaces the active one only when its validation figures are sound (a failure model:
defined, enough breakdowns behind them, not suspiciously perfect) and it is no worse on the same validation
rows (analytics.ml.lifecycle.decide); the figures of both and the verdict are stored with the candidate,
promoted or not, so an engineer can see why the registry kept what it kept.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from analytics.ml.anomaly import AnomalyModel
from analytics.ml.artifacts import ArtifactError, load_artifact, save_artifact
from analytics.ml.evaluate import anomaly_event_metrics, failure_metrics
from analytics.ml.history import History
from analytics.ml.lifecycle import (
    ANOMALY_RULES,
    DEFAULT_RULES,
    Gate,
    decide,
    failure_validation_problems,
    verdict,
)
from analytics.ml.pipeline import prepare
from analytics.ml.train import FailureModel, NotEnoughFailures, time_split, train_failure_model
from analytics.scoring import frames
from analytics.scoring.models import ModelKind, ModelVersion
from fleet.models import Site
from smartmine.platform import audit, locks
from smartmine.platform.models import AuditAction

logger = logging.getLogger(__name__)

#: Registry kind -> equipment kind it serves.
FAILURE_KINDS = {
    ModelKind.FAILURE_TRUCK: "truck",
    ModelKind.FAILURE_CRUSHER: "crusher",
    ModelKind.FAILURE_LOADER: "loader",
}
ANOMALY_KINDS = {
    ModelKind.ANOMALY_TRUCK: "truck",
    ModelKind.ANOMALY_CRUSHER: "crusher",
    ModelKind.ANOMALY_STOCKPILE: "stockpile",
}
#: Names accepted by `retrain_models --kind`: one registry kind, or a family.
KIND_GROUPS = {"all": list(ModelKind.values), "failure": list(FAILURE_KINDS), "anomaly": list(ANOMALY_KINDS)}
DEFAULT_TRAINING_WINDOW = dt.timedelta(days=7)
VALID_SHARE = 0.3  # the later 30 % of the window validates both candidate and active model
ANOMALY_WARM_UP = dt.timedelta(hours=3)  # the longest trailing median: context before validation rows


#: The advisory lock (smartmine.platform.locks) a retraining holds from start to end.
RETRAIN_LOCK = "analytics.retrain"


class RetrainRunning(ValueError):
    """Another retraining holds RETRAIN_LOCK."""


class RegistryError(Exception):
    """A registry artifact cannot be used (missing, tampered, outside MODEL_DIR)."""


def model_dir() -> Path:
    return Path(settings.MODEL_DIR)


def artifact_file(version: ModelVersion) -> Path:
    """The artifact's absolute path, refused if the stored path leaves MODEL_DIR (a crafted row)."""
    root = model_dir().resolve()
    path = (root / version.artifact_path).resolve()
    if not path.is_relative_to(root):
        raise RegistryError(f"{version.label}: artifact path {version.artifact_path!r} is outside MODEL_DIR")
    return path


_loaded: dict[tuple[int, str], Any] = {}


def load_model(version: ModelVersion) -> Any:
    """The version's model, loaded only if the file still hashes to the recorded SHA-256 (cached per hash)."""
    key = (version.pk, version.sha256)
    if key not in _loaded:
        try:
            _loaded[key] = load_artifact(artifact_file(version), version.sha256)
        except ArtifactError as exc:
            raise RegistryError(f"{version.label}: {exc}") from exc
    return _loaded[key]


def active_models(kinds: list[str]) -> dict[str, tuple[ModelVersion, Any]]:
    """Active version and model of each kind that has one; an unloadable artifact is logged and left out,
    so one tampered file stops its own kind's predictions, not the others'."""
    found = {}
    for version in ModelVersion.objects.filter(kind__in=kinds, active=True):
        try:
            found[version.kind] = (version, load_model(version))
        except RegistryError:
            logger.exception("active model refused", extra={"model": version.label})
    return found


def json_safe(value: Any) -> Any:
    """NaN and infinities become None (PostgreSQL's jsonb has no NaN); numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@transaction.atomic
def register_model(
    *,
    kind: str,
    model: Any,
    metrics: dict,
    promotion: dict,
    activate: bool,
    training_start: dt.datetime,
    training_end: dt.datetime,
    sites: list[int],
    features: list[str],
    metadata: dict | None = None,
    provenance: str = "",
) -> ModelVersion:
    """Save the artifact under MODEL_DIR/<installation id>/, record it, and make it the active version of its
    kind if asked."""
    # One registrar per kind at a time: the version number and the single active row stay consistent.
    list(ModelVersion.objects.select_for_update().filter(kind=kind).values_list("pk", flat=True))
    number = (ModelVersion.objects.filter(kind=kind).aggregate(n=Max("version"))["n"] or 0) + 1
    # Under the installation's id: version numbers are per database, MODEL_DIR is per checkout. The row keeps
    # the path, so artifacts written before (`<kind>/v<n>.skops`) load where they are; a new id breaks none.
    relative = f"{settings.INSTALLATION_ID}/{kind}/v{number}.skops"
    sha256 = save_artifact(model, model_dir() / relative)
    now = timezone.now()
    if activate:
        ModelVersion.objects.filter(kind=kind, active=True).update(active=False)
    return ModelVersion.objects.create(
        kind=kind,
        version=number,
        trained_at=now,
        training_start=training_start,
        training_end=training_end,
        sites=sites,
        features=list(features),
        metrics=json_safe(metrics),
        promotion=json_safe(promotion),
        metadata=json_safe(metadata or {}),
        artifact_path=relative,
        sha256=sha256,
        active=activate,
        activated_at=now if activate else None,
        provenance=provenance,
    )


# --- Retraining


@dataclass
class RetrainResult:
    kind: str
    version: ModelVersion | None = None
    promoted: bool = False
    reason: str = ""
    seconds: float = 0.0
    metrics: dict = field(default_factory=dict)


def parse_kinds(names: list[str] | None) -> list[str]:
    """Registry kinds from `--kind` values (a kind or a family, comma lists allowed); ValueError if not."""
    kinds: list[str] = []
    for name in [part.strip() for value in names or ["all"] for part in value.split(",") if part.strip()]:
        if name in KIND_GROUPS:
            kinds += KIND_GROUPS[name]
        elif name in ModelKind.values:
            kinds.append(name)
        else:
            accepted = ", ".join([*KIND_GROUPS, *ModelKind.values])
            raise ValueError(f"unknown model kind {name!r}: expected one of {accepted}")
    return list(dict.fromkeys(kinds))


def _decide(
    candidate: dict,
    active_metrics: dict | None,
    rules: dict,
    *,
    force: bool,
    gate: Gate | None = None,
    extends: str = "",
) -> tuple[bool, dict]:
    return decide(candidate, active_metrics, rules, force=force, gate=gate, extends=extends)


def _window(histories: list[History]) -> tuple[dt.datetime, dt.datetime, list[int]]:
    return (
        min(h.meta["start"] for h in histories).to_pydatetime(),
        max(h.meta["end"] for h in histories).to_pydatetime(),
        [h.meta["site_id"] for h in histories if h.meta.get("site_id") is not None],  # none when simulated
    )


def retrain_failure(
    kind: str,
    histories: list[History],
    *,
    force: bool = False,
    provenance: str = "",
    trained: tuple[FailureModel, dict] | Exception | None = None,
    extends: str = "",
) -> RetrainResult:
    """Train a candidate for one maintained kind; score it and the active model on the same later rows.

    `trained`: the outcome of `train_failure_model(*prepare(histories, kind), valid_share=VALID_SHARE)`
    already run elsewhere (the bootstrap trains kinds in parallel processes), or the exception it raised;
    the gate, the comparison and the registration are the same. `extends` (why, in words): the histories
    hold all of the active model's (the bootstrap refining its first models), so there is no fair comparison
    and the candidate is activated once it passes the gate (lifecycle.decide)."""
    started = time.perf_counter()
    equipment = FAILURE_KINDS[kind]
    features = targets = None
    try:
        if trained is None:
            features, targets = prepare(histories, equipment)
            trained = train_failure_model(features, targets, equipment, valid_share=VALID_SHARE)
        if isinstance(trained, Exception):
            raise trained
        candidate, metrics = trained
    except NotEnoughFailures as exc:
        return RetrainResult(kind, reason=str(exc), seconds=time.perf_counter() - started)
    active_metrics = None
    active = ModelVersion.objects.filter(kind=kind, active=True).first()
    if active is not None and not extends:
        if features is None:
            features, targets = prepare(histories, equipment)
        try:
            old = load_model(active)
            _, valid, _ = time_split(features["ts"], VALID_SHARE, embargo_h=candidate.horizon_h)
            scored = old.predict(features.loc[valid], top_factors=0)
            active_metrics = failure_metrics(
                scored, targets.loc[valid], threshold=old.threshold, horizon_h=old.horizon_h
            )
        except (RegistryError, ValueError) as exc:  # unloadable, or trained on other features
            logger.warning("active model not comparable: %s", exc, extra={"model": active.label})
            active_metrics = None
    promote, report = _decide(
        metrics, active_metrics, DEFAULT_RULES, force=force, gate=failure_validation_problems, extends=extends
    )
    start, end, sites = _window(histories)
    version = register_model(
        kind=kind,
        model=candidate,
        metrics=metrics,
        promotion=report,
        activate=promote,
        training_start=start,
        training_end=end,
        sites=sites,
        features=candidate.feature_names,
        metadata={k: v for k, v in candidate.metadata.items() if k not in {"metrics", "feature_names"}},
        provenance=provenance,
    )
    return RetrainResult(kind, version, promote, _why(report), time.perf_counter() - started, metrics)


def retrain_anomaly(
    kind: str, histories: list[History], *, force: bool = False, provenance: str = ""
) -> RetrainResult:
    """Fit on the earlier 70 %, count detections of injected anomalies in the rest for candidate and active
    model alike, then refit the candidate on everything. Without fault labels (real sites) the figures are
    empty and only a first model, or --force, is activated."""
    started = time.perf_counter()
    equipment = ANOMALY_KINDS[kind]
    readings = pd.concat([h.readings[equipment] for h in histories], ignore_index=True)
    labels = pd.concat([h.labels for h in histories if len(h.labels)] or [pd.DataFrame()], ignore_index=True)
    if readings.empty:
        return RetrainResult(kind, reason=f"no {equipment} readings in the window")
    _, _, cut = time_split(readings["ts"], VALID_SHARE, embargo_h=0)
    earlier = readings.loc[readings["ts"] <= cut]
    context = readings.loc[readings["ts"] > cut - pd.Timedelta(ANOMALY_WARM_UP)]
    truth = (
        labels.loc[(labels["start"] > cut) & (labels["unit_kind"] == equipment)] if len(labels) else labels
    )

    def validate(model: AnomalyModel) -> dict:
        found = model.detect(context)
        found = found.loc[found["start"] > cut]
        if truth.empty:
            return {"precision": None, "recall": None, "detected_events": len(found)}
        return anomaly_event_metrics(found, truth)

    metrics = validate(AnomalyModel(equipment).fit(earlier, labels))
    active_metrics = None
    active = ModelVersion.objects.filter(kind=kind, active=True).first()
    if active is not None:
        try:
            active_metrics = validate(load_model(active))
        except RegistryError as exc:
            logger.warning("active model not comparable: %s", exc, extra={"model": active.label})
    promote, report = _decide(metrics, active_metrics, ANOMALY_RULES, force=force)
    candidate = AnomalyModel(equipment).fit(readings, labels)
    start, end, sites = _window(histories)
    version = register_model(
        kind=kind,
        model=candidate,
        metrics=metrics,
        promotion=report,
        activate=promote,
        training_start=start,
        training_end=end,
        sites=sites,
        features=list(candidate.sensors),
        metadata={"rows": len(readings), "validation_from": cut.isoformat(), "margin": candidate.margin},
        provenance=provenance,
    )
    return RetrainResult(kind, version, promote, _why(report), time.perf_counter() - started, metrics)


def _why(report: dict) -> str:
    return verdict(report)


def training_histories(
    *, kinds: list[str], since: dt.datetime | dt.timedelta | None, site_ids: list[int] | None = None
) -> list[History]:
    """Each simulated or live site's history over the window (a duration back from its own clock, or from a
    date); sites without readings in it are left out."""
    equipment = {FAILURE_KINDS.get(k) or ANOMALY_KINDS.get(k) for k in kinds} - {"loader"}
    reading_kinds = tuple(kind for kind in frames.READING_KINDS if kind in equipment)
    sites = Site.objects.filter(sim_clock__isnull=False).order_by("pk")
    if site_ids:
        sites = sites.filter(pk__in=site_ids)
    histories = []
    for site in sites:
        end = site.sim_clock + dt.timedelta(microseconds=1)
        start = since if isinstance(since, dt.datetime) else end - (since or DEFAULT_TRAINING_WINDOW)
        if start >= end:
            continue
        history = frames.site_history(site, start=start, end=end, kinds=reading_kinds)
        if any(len(frame) for frame in history.readings.values()) or len(history.events):
            histories.append(history)
    return histories


def retrain(
    *,
    kinds: list[str],
    since: dt.datetime | dt.timedelta | None = None,
    force: bool = False,
    actor: Any = "system",
    site_ids: list[int] | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> list[RetrainResult]:
    """Retrain `kinds` on the sites' recent history; promote the no-worse ones; audit what was done.

    One retraining at a time, wherever it was started (task, command, several machines): it holds
    RETRAIN_LOCK, and a second one raises RetrainRunning instead of training beside it.
    """
    with locks.session_lock(RETRAIN_LOCK) as mine:
        if not mine:
            raise RetrainRunning(
                "retraining is already running (the nightly task, the API or `manage.py retrain_models`): "
                "try again when it has finished"
            )
        return _retrain(
            kinds=kinds, since=since, force=force, actor=actor, site_ids=site_ids, progress=progress
        )


def retrain_running() -> bool:
    """Whether a retraining holds RETRAIN_LOCK now."""
    return locks.is_held(RETRAIN_LOCK)


def _retrain(
    *,
    kinds: list[str],
    since: dt.datetime | dt.timedelta | None,
    force: bool,
    actor: Any,
    site_ids: list[int] | None,
    progress: Callable[[str], None],
) -> list[RetrainResult]:
    progress(f"reading history ({since or 'the last 7 days'} of each site) ...")
    started = time.perf_counter()
    histories = training_histories(kinds=kinds, since=since, site_ids=site_ids)
    if not histories:
        raise ValueError("no site has history in the training window: run `manage.py simulate` first")
    rows = sum(len(f) for h in histories for f in h.readings.values())
    progress(f"read {rows:,} readings of {len(histories)} site(s) in {time.perf_counter() - started:.1f} s")
    results = []
    for kind in kinds:
        progress(f"training {kind} ...")
        trainer = retrain_failure if kind in FAILURE_KINDS else retrain_anomaly
        result = trainer(kind, histories, force=force)
        results.append(result)
        if result.version is None:
            progress(f"{kind}: skipped ({result.reason})")
        else:
            outcome = "promoted" if result.promoted else "kept the active version"
            progress(f"{kind}: {result.version.label} in {result.seconds:.1f} s, {outcome} ({result.reason})")
    versions = [r.version for r in results if r.version is not None]
    if versions:
        audit.record(
            actor=actor,
            action=AuditAction.RETRAIN,
            targets=versions,
            promoted=[v.label for v in versions if v.active],
            force=force,
        )
    return results
