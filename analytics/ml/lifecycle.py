"""Promotion rule: a newly trained model replaces the active one only if its validation figures are sound and
it is no worse than the active model on the same data."""

from __future__ import annotations

import math
from collections.abc import Callable

#: Metrics the rule compares, and whether higher is better. Both models must be scored on the same rows.
DEFAULT_RULES: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "brier": False,
    "median_lead_h": True,
}
ANOMALY_RULES: dict[str, bool] = {"precision": True, "recall": True}

#: A failure model's validation must see at least this many distinct breakdowns: one breakdown makes a whole
#: horizon of positive rows, so rows overstate the evidence, and with fewer than five run-ups one of them
#: scored differently moves ROC-AUC by 0.05-0.1 (a site-week holds ~4 crusher and ~4 loader failures).
MIN_VALIDATION_FAILURES = 5
#: Validation ROC-AUC at or above this is not believed: even the engine's hidden health ranks failures at
#: 0.86 (docs/ml.md), so a model that separates (almost) every failing row has seen the answer (leakage) or
#: a validation period too small to be wrong.
SUSPICIOUS_ROC_AUC = 0.999
#: Figures a failure model's validation must define (not NaN, not missing) to be activated.
REQUIRED_FAILURE_METRICS = ("roc_auc", "pr_auc", "brier", "ece")

Gate = Callable[[dict], list[str]]


def _undefined(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def failure_validation_problems(
    metrics: dict,
    *,
    min_failures: int = MIN_VALIDATION_FAILURES,
    suspicious_roc_auc: float = SUSPICIOUS_ROC_AUC,
) -> list[str]:
    """Why a failure model's validation figures cannot be trusted (empty when they can): undefined figures,
    too few breakdowns behind them, or a suspiciously perfect ranking."""
    problems = [
        f"{name} undefined on validation"
        for name in REQUIRED_FAILURE_METRICS
        if _undefined(metrics.get(name))
    ]
    failures = metrics.get("failure_events")
    if _undefined(failures):
        problems.append("failure_events not counted on validation")
    elif failures < min_failures:
        problems.append(f"only {failures} breakdowns in validation (at least {min_failures} needed)")
    roc_auc = metrics.get("roc_auc")
    if not _undefined(roc_auc) and roc_auc >= suspicious_roc_auc:
        problems.append(f"ROC-AUC {roc_auc:.4f} on validation is suspiciously perfect (leakage?)")
    return problems


def should_promote(
    candidate: dict,
    active: dict | None,
    rules: dict[str, bool] | None = None,
    tolerance: float = 0.0,
    *,
    gate: Gate | None = None,
) -> tuple[bool, dict]:
    """(promote?, report) comparing metric dicts measured on the same validation data.

    A candidate whose figures the `gate` refuses is never promoted, first of its kind or not; the report's
    `refused` lists why. Otherwise the candidate wins when no compared metric is worse than the active
    model's by more than `tolerance` (absolute). With no active model it wins if its metrics are present. A
    metric missing or NaN in the candidate fails it; one missing in the active model is not compared. The
    report holds both metric dicts and a per-metric verdict, for the registry to store."""
    refused = gate(candidate) if gate else []
    if refused:
        return False, {
            "promote": False,
            "candidate": dict(candidate),
            "active": dict(active or {}),
            "refused": refused,
        }
    rules = DEFAULT_RULES if rules is None else rules
    verdicts: dict[str, dict] = {}
    promote = True
    for name, higher_is_better in rules.items():
        new = candidate.get(name)
        old = (active or {}).get(name)
        if _undefined(new):
            verdicts[name] = {"candidate": new, "active": old, "ok": False, "why": "missing in candidate"}
            promote = False
            continue
        if _undefined(old):
            verdicts[name] = {"candidate": new, "active": old, "ok": True, "why": "no active value"}
            continue
        delta = new - old if higher_is_better else old - new
        ok = delta >= -tolerance
        verdicts[name] = {"candidate": new, "active": old, "ok": ok, "why": f"better by {delta:+.4g}"}
        promote = promote and ok
    return promote, {
        "promote": promote,
        "candidate": dict(candidate),
        "active": dict(active or {}),
        "by_metric": verdicts,
    }


def decide(
    candidate: dict,
    active: dict | None,
    rules: dict[str, bool],
    *,
    force: bool,
    gate: Gate | None = None,
    extends: str = "",
) -> tuple[bool, dict]:
    """The registry's decision: the gate first (force does not pass it), then a first model of its kind is
    activated, a later one only when should_promote says so or when forced.

    `extends` (why, in words) marks a candidate trained the same way on a superset of the active model's
    training data: it is activated once past the gate, since scoring the active model on the candidate's
    validation rows would score it partly on rows it was trained on."""
    refused = gate(candidate) if gate else []
    if refused:
        return should_promote(candidate, active, rules, gate=gate)
    if extends:
        return True, {"promote": True, "candidate": candidate, "active": active, "extends": extends}
    if active is None:
        promote, report = True, {"promote": True, "candidate": candidate, "active": None, "why": "no active"}
    else:
        promote, report = should_promote(candidate, active, rules)
    if force and not promote:
        promote, report = True, {**report, "promote": True, "forced": True}
    return promote, report


def verdict(promotion: dict) -> str:
    """The promotion report in words, as the command, the admin and the API show it."""
    if promotion.get("refused"):
        return "not activated: " + "; ".join(promotion["refused"])
    if promotion.get("forced"):
        return "forced"
    if promotion.get("extends"):
        return promotion["extends"]
    if promotion.get("why"):
        return "first model of its kind"
    if not promotion.get("by_metric"):
        return ""
    worse = [name for name, v in promotion["by_metric"].items() if not v["ok"]]
    return f"worse on {', '.join(worse)}" if worse else "no worse than the active model"
