"""The run of a queued what-if scenario (the body of analytics.scenarios.tasks.run_scenario_task).

The engine work is analytics.scenarios.engine (pure); this module loads the site's state, saves progress,
notices a cancel request between chunks of steps, stores the results, and raises the fleet-sizing
recommendation a sweep calls for.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.utils import timezone

from analytics.recommendations import services as recommendation_services
from analytics.scenarios import engine
from analytics.scenarios.models import Scenario, ScenarioStatus
from fleet.models import Site
from fleet.sim import SiteState
from fleet.ticking import load_state
from smartmine.platform import locks

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
#: The advisory lock a run holds (smartmine.platform.locks), keyed by the scenario id.
RUN_LOCK = "analytics.scenario.run"
WORKER_LOST = "the worker running it was lost (killed, out of memory or its machine gone): run it again"


def base_state(site: Site, start: str = START_CURRENT) -> SiteState | None:
    """The state a scenario starts from; None for a site that is not simulated (no engine state)."""
    if not site.sim_state:
        return None
    if start == START_SAVED:
        return SiteState.from_dict(site.sim_state)
    return load_state(site)  # the tick's own loader: one definition of "operator changes"


def plan_from_request(request: dict[str, Any], *, base_strategy: str) -> engine.Plan:
    """The engine's plan from the stored request (the JSON the API validated)."""
    seeds = list(range(request["first_seed"], request["first_seed"] + request["seeds"]))
    return engine.Plan(
        changes=engine.Changes.from_dict(request.get("changes", {})),
        base_strategy=base_strategy,
        shift_hours=request["shift_hours"],
        seeds=seeds,
        fleet_sizes=request.get("fleet_sizes", []),
    )


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

    The run holds the scenario's advisory lock (RUN_LOCK) from before it claims the row to the end, so a
    `running` row whose lock is free has lost its worker. A redelivered task (acks_late: its worker was
    killed) therefore finds the row running and the lock free, and marks it failed; a duplicate delivery
    while the run goes on finds the lock taken and does nothing.

    Returns the final status, or None when there was nothing to run (cancelled while queued, running in
    another worker, or deleted). Never raises for a failed run: the scenario row is the record.
    """
    # A killed worker's connection may take a moment to close: wait that long before calling the run live.
    with locks.session_lock(RUN_LOCK, scenario_id, wait_s=2.0) as mine:
        if not mine:
            return None
        claimed = Scenario.objects.filter(pk=scenario_id, status=ScenarioStatus.QUEUED).update(
            status=ScenarioStatus.RUNNING, started_at=timezone.now(), progress_pct=0
        )
        if not claimed:
            return ScenarioStatus.FAILED if _fail_lost(scenario_id) else None
        return _run(scenario_id)


def fail_lost_scenarios() -> list[int]:
    """Mark failed every running scenario whose worker is gone (its run lock is free); returns their ids.

    The periodic sweep (fail_lost_scenarios_task, every minute) catches a worker lost with its message:
    one killed whole, or a machine gone, whose task Redis redelivers only after its visibility timeout.
    """
    lost = []
    running = (
        Scenario.objects.filter(status=ScenarioStatus.RUNNING).order_by("pk").values_list("pk", flat=True)
    )
    for scenario_id in running:
        with locks.session_lock(RUN_LOCK, scenario_id) as free:
            if free and _fail_lost(scenario_id):
                lost.append(scenario_id)
    return lost


def runner_alive(scenario_id: int) -> bool:
    """Whether a worker is running this scenario now (holds its run lock)."""
    return locks.is_held(RUN_LOCK, scenario_id)


def _fail_lost(scenario_id: int) -> bool:
    """Call only while holding the run lock: a row still `running` then has no worker."""
    failed = Scenario.objects.filter(pk=scenario_id, status=ScenarioStatus.RUNNING).update(
        status=ScenarioStatus.FAILED, finished_at=timezone.now(), error=WORKER_LOST
    )
    if failed:
        logger.warning("scenario lost its worker", extra={"scenario": scenario_id})
    return bool(failed)


def _run(scenario_id: int) -> str:
    scenario = Scenario.objects.select_related("site").get(pk=scenario_id)
    site = scenario.site
    try:
        base = base_state(site, scenario.request.get("start", START_CURRENT))
        if base is None:
            raise ValueError(f"site {site} has no engine state (not simulated)")
        plan = plan_from_request(scenario.request, base_strategy=site.dispatch_strategy)
        problems = engine.problems(base, plan)
        if problems:  # the site changed since the request was validated
            raise ValueError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in problems.items()))
        results = engine.run_scenario(base, plan, _Checkpoint(scenario_id))
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
    Scenario.objects.filter(pk=scenario_id, status=ScenarioStatus.RUNNING).update(
        status=status, finished_at=timezone.now(), **fields
    )


def recommend_fleet_size(*, site: Site, scenario_id: int, sizing: dict[str, Any], shift_hours: float) -> None:
    """A sweep that finds the fleet clearly too big or too small raises an AI recommendation; one that finds
    it about right withdraws an open one (analytics.recommendations.services owns recommendations)."""
    verdict, recommended, current = sizing["verdict"], sizing["recommended_trucks"], sizing["current_trucks"]
    if verdict not in ("too_big", "too_small"):
        if verdict == "about_right":
            recommendation_services.expire_recommendations(site=site, kinds=[FLEET_SIZING_KIND])
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
    recommendation_services.upsert_recommendation(
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
