"""Extension points of the tick and of telemetry ingest, for the apps above fleet (docs/architecture.md).

fleet must not import analytics, yet analytics evaluates its alarm rules on every step and every telemetry
batch: it registers callables here in its AppConfig.ready(). They run INSIDE the writer's transaction, after
the readings are written: what they write (alarm transitions) commits or rolls back with the tick, so a
tick that fails leaves no alarm for a state that never was, and a clear is never lost to a crash between two
commits. They must be cheap (the tick's time budget) and publish only through live.publish_on_commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (site, records, state): every step a tick or `simulate` batch saves, each a fleet.ticking.StepRecord.
AfterSteps = Callable[[Any, list, Any], None]
#: (kind, readings): a telemetry batch's accepted readings of one kind (a DataFrame with equipment_id, ts).
AfterTelemetry = Callable[[str, Any], None]
#: (site, records, history_only): every save of steps, `simulate`'s history-only batches included.
AfterHistory = Callable[..., None]
#: (state) -> a small plain dict kept with each step's record (what readings do not carry: queues).
Capture = Callable[[Any], Any]

_after_steps: list[AfterSteps] = []
_after_telemetry: list[AfterTelemetry] = []
_captures: dict[str, Capture] = {}
#: (site_id): after a tick has committed (the read model is stored from here); must never raise.
AfterCommit = Callable[[int], None]
_after_commit: list[AfterCommit] = []
_after_history: list[AfterHistory] = []


def register_after_steps(hook: AfterSteps) -> None:
    if hook not in _after_steps:
        _after_steps.append(hook)


def register_after_telemetry(hook: AfterTelemetry) -> None:
    if hook not in _after_telemetry:
        _after_telemetry.append(hook)


def register_after_history(hook: AfterHistory) -> None:
    """Called with every save of steps, history-only ones too (the KPI ledgers), in the same transaction."""
    if hook not in _after_history:
        _after_history.append(hook)


def register_capture(name: str, capture: Capture) -> None:
    _captures[name] = capture


def capture(state: Any) -> dict[str, Any]:
    """Each registered capture of the state right after a step (called by StepRecord.of)."""
    return {name: take(state) for name, take in _captures.items()}


def after_steps(site: Any, records: list, state: Any) -> None:
    for hook in _after_steps:
        hook(site, records, state)


def after_telemetry(kind: str, readings: Any) -> None:
    for hook in _after_telemetry:
        hook(kind, readings)


def register_after_commit(hook: AfterCommit) -> None:
    if hook not in _after_commit:
        _after_commit.append(hook)


def after_commit(site_id: int) -> None:
    """Each registered hook, once the tick's transaction has committed (outside it: nothing rolls back)."""
    for hook in _after_commit:
        hook(site_id)


def after_history(site: Any, records: list, *, history_only: bool) -> None:
    for hook in _after_history:
        hook(site, records, history_only=history_only)
