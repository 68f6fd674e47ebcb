"""End to end on histories: features and targets for many sites, training per kind, scoring unseen sites."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace

import pandas as pd
from threadpoolctl import threadpool_limits

from analytics.ml.evaluate import failure_metrics
from analytics.ml.features import build_features
from analytics.ml.history import History, keep_readings, lower_priority
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


def _train_one(job: tuple[list[History], str, dict]) -> tuple[FailureModel, dict]:
    histories, kind, options = job
    # One OpenMP thread per process: the pool already fills the cores, and OpenMP threads that spin-wait for
    # each other on a busy machine (a live twin, other processes) made one truck model take 8x its idle time.
    with threadpool_limits(limits=1, user_api="openmp"):
        features, targets = prepare(histories, kind)
        return train_failure_model(features, targets, kind, **options)


def train_in_processes(
    jobs: dict[str, tuple[list[History], str]], workers: int = 2, *, nice: int = 0, **options
) -> dict[str, tuple[FailureModel, dict] | Exception]:
    """`train_failure_model` for several (histories, equipment kind) jobs at once, in spawned processes (the
    caller may be a threaded worker: see simulate_histories), one OpenMP thread each; the largest jobs
    first. Per job name: the model and its validation metrics, or the exception it raised (NotEnoughFailures
    included), so one job's failure does not lose the others'."""
    trimmed = {name: ([_only(h, kind) for h in histories], kind) for name, (histories, kind) in jobs.items()}
    order = sorted(trimmed, key=lambda name: -sum(_rows(h, trimmed[name][1]) for h in trimmed[name][0]))
    results: dict[str, tuple[FailureModel, dict] | Exception] = {}
    with ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(jobs))),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=lower_priority,
        initargs=(nice,),
    ) as pool:
        futures = {pool.submit(_train_one, (*trimmed[name], options)): name for name in order}
        for future in as_completed(futures):
            try:
                results[futures[future]] = future.result()
            except Exception as exc:  # handed back to the caller, which decides per job
                results[futures[future]] = exc
    return results


def _only(history: History, kind: str) -> History:
    """The part of a history one kind's features need (its readings and the event log): less to send."""
    return replace(keep_readings(history, (kind,)), labels=history.labels.iloc[:0])


def _rows(history: History, kind: str) -> int:
    """Training cost grows with a kind's feature rows: units x time (loaders: no readings, few units)."""
    readings = history.readings.get(kind)
    return len(readings) if readings is not None else 0
