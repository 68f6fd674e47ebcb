"""Writes for what-if scenarios: create (queues the run after commit), cancel, and run one (the task body).

The engine work is analytics.scenarios (pure); this module loads the site's state, saves progress, notices a
cancel request between chunks of steps, stores the results and records who did what in the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics import scenarios
from analytics.scenario_models import Scenario, ScenarioKind, ScenarioStatus
from fleet.models import Site
from fleet.sim import SiteState
from smartmine.platform import audit
from smartmine.platform.models import AuditAction

logger = logging.getLogger(__name__)

#: Where a scenario starts: the site now with operators' changes applied (maintenance, reclaim rates; what
#: the next tick would start from), or the engine state exactly as saved by the last tick.
START_CURRENT = "current"
START_SAVED = "saved"
STARTS = (START_CURRENT, START_SAVED)
#: Recommendation kind of a fleet-sizing verdict, and how long it stands (a sweep is hours of a shift: its
#: verdict holds until the fleet or the pit changes, which a day covers without going stale for weeks).
FLEET_SIZING_KIND = "fleet_sizing"
FLEET_SIZING_TTL = dt.timedelta(days=1)


class ScenarioFinished(ValueError):
    """The scenario is done, failed or cancelled already: nothing to cancel."""


def base_state(site: Site, start: str = START_CURRENT) -> SiteState | None:
    """The state a scenario starts from; None for a site that is not simulated (no engine state)."""
    if not site.sim_state:
        return None
    if start == START_SAVED:
        return SiteState.from_dict(site.sim_state)
    from fleet.ticking import load_state  # the tick's own loader: one definition of "operator changes"

    return load_state(site)


def plan_from_request(request: dict[str, Any], *, base_strategy: str) -> scenarios.Plan:
    """The engine's plan from the stored request (the JSON the API validated)."""
    seeds = list(range(request["first_seed"], request["first_seed"] + request["seeds"]))
    return scenarios.Plan(
        changes=scenarios.Changes.from_dict(request.get("changes", {})),
        base_strategy=base_strategy,
        shift_hours=request["shift_hours"],
        seeds=seeds,
        fleet_sizes=request.get("fleet_sizes", []),
    )


@transaction.atomic
def create_scenario(*, site: Site, request: dict[str, Any], name: str = "", actor: Any = None) -> Scenario:
    """Store a validated request as a queued scenario; its run starts once this transaction commits."""
    from analytics.scenario_tasks import run_scenario_task

    scenario = Scenario.objects.create(
        site=site,
        name=name,
        kind=ScenarioKind.FLEET_SIZING if request.get("fleet_sizes") else ScenarioKind.WHAT_IF,
        request=request,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(actor=actor, action=AuditAction.SCENARIO, targets=[scenario], event="created", site=site.pk)
    transaction.on_commit(lambda: run_scenario_task.delay(scenario.pk))
    return scenario


@transaction.atomic
def cancel_scenario(*, scenario: Scenario, actor: Any = None) -> Scenario:
    """A queued scenario is cancelled at once; a running one is asked to stop at its next check.

    The row lock orders this against the task's own status changes, so a cancel and a finish never both win.
    """
    locked = Scenario.objects.select_for_update().get(pk=scenario.pk)
    if locked.is_finished:
        raise ScenarioFinished(f"scenario #{locked.pk} is {locked.status} already")
    audit.record(actor=actor, action=AuditAction.SCENARIO, targets=[locked], event="cancelled")
    locked.cancel_requested = True
    fields = ["cancel_requested"]
    if locked.status == ScenarioStatus.QUEUED:
        locked.status, locked.finished_at = ScenarioStatus.CANCELLED, timezone.now()
        locked.error = "cancelled before it started"
        fields += ["status", "finished_at", "error"]
    locked.save(update_fields=fields)
    return locked


class _Checkpoint:
    """Saves progress when the whole percentage changes and answers whether to go on (no cancel request)."""

    def __init__(self, scenario_id: int) -> None:
        self.scenario_id = scenario_id
        self.pct = 0

    def __call__(self, share_done: float) -> bool:
        pct = min(99, int(100 * share_done))  # 100 only when the results are stored
        rows = Scenario.objects.filter(pk=self.scenario_id)
        if pct != self.pct:
            rows.update(progress_pct=pct)
            self.pct = pct
        return not rows.filter(cancel_requested=True).exists()


def run_scenario(scenario_id: int) -> str | None:
    """Run a queued scenario to its end: done, cancelled (partial results) or failed (with the reason).

    Returns the final status, or None when there was nothing to run (cancelled while queued, already taken
    by another worker, or deleted). Never raises for a failed run: the scenario row is the record.
    """
    claimed = Scenario.objects.filter(pk=scenario_id, status=ScenarioStatus.QUEUED).update(
        status=ScenarioStatus.RUNNING, started_at=timezone.now(), progress_pct=0
    )
    if not claimed:
        return None
    scenario = Scenario.objects.select_related("site").get(pk=scenario_id)
    site = scenario.site
    try:
        base = base_state(site, scenario.request.get("start", START_CURRENT))
        if base is None:
            raise ValueError(f"site {site} has no engine state (not simulated)")
        plan = plan_from_request(scenario.request, base_strategy=site.dispatch_strategy)
        problems = scenarios.problems(base, plan)
        if problems:  # the site changed since the request was validated
            raise ValueError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items()))
        results = scenarios.run_scenario(base, plan, _Checkpoint(scenario_id))
    except Exception as exc:
        logger.exception("scenario failed", extra={"scenario": scenario_id, "site": site.pk})
        _finish(scenario_id, ScenarioStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        return ScenarioStatus.FAILED
    results["site_tick"] = site.tick  # which state of the site it started from
    if not results["complete"]:
        _finish(scenario_id, ScenarioStatus.CANCELLED, results=results, error="cancelled while running")
        return ScenarioStatus.CANCELLED
    _finish(scenario_id, ScenarioStatus.DONE, results=results, progress_pct=100)
    if "fleet_sizing" in results:
        try:
            recommend_fleet_size(
                site=site,
                scenario_id=scenario_id,
                sizing=results["fleet_sizing"],
                shift_hours=plan.shift_hours,
            )
        except Exception:  # the results are stored: a recommendation that fails is logged, not a failed run
            logger.exception("fleet-sizing recommendation failed", extra={"scenario": scenario_id})
    return ScenarioStatus.DONE


def _finish(scenario_id: int, status: str, **fields: Any) -> None:
    Scenario.objects.filter(pk=scenario_id).update(status=status, finished_at=timezone.now(), **fields)


def recommend_fleet_size(*, site: Site, scenario_id: int, sizing: dict[str, Any], shift_hours: float) -> None:
    """A sweep that finds the fleet clearly too big or too small raises an AI recommendation; one that finds
    it about right withdraws an open one (analytics.services owns recommendations)."""
    from analytics import services

    verdict, recommended, current = sizing["verdict"], sizing["recommended_trucks"], sizing["current_trucks"]
    if verdict not in ("too_big", "too_small"):
        if verdict == "about_right":
            services.expire_recommendations(site=site, kinds=[FLEET_SIZING_KIND])
        return
    points = {point["trucks"]: point for point in sizing["curve"]}
    impact_t = points[recommended]["tonnes_mean"] - points[current]["tonnes_mean"]
    gain_pct = 100.0 * impact_t / points[current]["tonnes_mean"] if points[current]["tonnes_mean"] else 0.0
    if verdict == "too_small":
        title = f"Add {recommended - current} trucks: {gain_pct:+.0f} % tonnes"
        priority = "high" if gain_pct >= 10.0 else "medium"
    else:
        title = f"{current - recommended} trucks could be parked with {gain_pct:+.1f} % tonnes"
        priority = "medium"
    services.upsert_recommendation(
        site=site,
        kind=FLEET_SIZING_KIND,
        subject="site",
        title=title,
        reasoning=f"Fleet-sizing scenario #{scenario_id}: {sizing['message']}.",
        expected_impact=f"{impact_t:+,.0f} t per {shift_hours:g} h shift",
        priority=priority,
        impact_t=impact_t,
        data={"scenario": scenario_id, **sizing},
        ttl=FLEET_SIZING_TTL,
    )
