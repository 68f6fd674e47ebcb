"""Promotion rule: a newly trained model replaces the active one only if it is no worse on the same data."""

from __future__ import annotations

import math

#: Metrics the rule compares, and whether higher is better. Both models must be scored on the same rows.
DEFAULT_RULES: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "brier": False,
    "median_lead_h": True,
}
ANOMALY_RULES: dict[str, bool] = {"precision": True, "recall": True}


def should_promote(
    candidate: dict,
    active: dict | None,
    rules: dict[str, bool] | None = None,
    tolerance: float = 0.0,
) -> tuple[bool, dict]:
    """(promote?, report) comparing metric dicts measured on the same validation data.

    The candidate wins when no compared metric is worse than the active model's by more than `tolerance`
    (absolute). With no active model it wins if its metrics are present. A metric missing or NaN in the
    candidate fails it; one missing in the active model is not compared. The report holds both metric dicts
    and a per-metric verdict, for the registry to store."""
    rules = DEFAULT_RULES if rules is None else rules
    verdicts: dict[str, dict] = {}
    promote = True
    for name, higher_is_better in rules.items():
        new = candidate.get(name)
        old = (active or {}).get(name)
        if new is None or (isinstance(new, float) and math.isnan(new)):
            verdicts[name] = {"candidate": new, "active": old, "ok": False, "why": "missing in candidate"}
            promote = False
            continue
        if old is None or (isinstance(old, float) and math.isnan(old)):
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
