"""Writes for what-if scenarios: create (queues the run after commit, within limits), cancel, re-run; audited.

The run itself is analytics.scenarios.runner, started by analytics.scenarios.tasks.run_scenario_task.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics.scenarios import runner
from analytics.scenarios.models import Scenario, ScenarioKind, ScenarioStatus
from analytics.scenarios.tasks import run_scenario_task
from fleet.models import Site
from smartmine.platform import audit, locks
from smartmine.platform.models import AuditAction

#: Scenarios queued or running at once, per site and per engineer (docs/scenarios.md, "Limits"): the batch
#: worker runs one at a time, so more would only wait; four is the storm of issue 16, which must not stop the
#: live twin (ticks have a worker of their own) and is still accepted from one engineer.
MAX_ACTIVE_PER_SITE = 6
MAX_ACTIVE_PER_USER = 4
#: The advisory locks (smartmine.platform.locks) that serialise "count, then queue" per site and per user.
SITE_LIMIT_LOCK, USER_LIMIT_LOCK = "analytics.scenario.site_limit", "analytics.scenario.user_limit"
ACTIVE_STATUSES = (ScenarioStatus.QUEUED, ScenarioStatus.RUNNING)


class ScenarioFinished(ValueError):
    """The scenario is done, failed or cancelled already: nothing to cancel."""


class ScenarioNotFinished(ValueError):
    """The scenario is still queued or running: it cannot be run again yet."""


class TooManyScenarios(Exception):
    """The site or the engineer has as many scenarios queued or running as allowed; `field` says which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _ids(pks: list[int]) -> str:
    return ", ".join(f"#{pk}" for pk in pks)


def _check_active_limits(site: Site, actor: Any) -> None:
    """Counted under a transaction advisory lock (not the site row: the tick takes that one)."""
    locks.transaction_lock(SITE_LIMIT_LOCK, site.pk)
    active = Scenario.objects.filter(status__in=ACTIVE_STATUSES)
    on_site = list(active.filter(site=site).order_by("pk").values_list("pk", flat=True))
    if len(on_site) >= MAX_ACTIVE_PER_SITE:
        raise TooManyScenarios(
            "site",
            f"{site} has {len(on_site)} scenarios queued or running (the limit is {MAX_ACTIVE_PER_SITE}): "
            f"wait for one to finish or cancel one ({_ids(on_site)})",
        )
    if not getattr(actor, "is_authenticated", False):
        return
    locks.transaction_lock(USER_LIMIT_LOCK, actor.pk)
    mine = list(active.filter(created_by=actor).order_by("pk").values_list("pk", flat=True))
    if len(mine) >= MAX_ACTIVE_PER_USER:
        raise TooManyScenarios(
            "created_by",
            f"{actor.get_username()} has {len(mine)} scenarios queued or running (the limit is "
            f"{MAX_ACTIVE_PER_USER}): wait for one to finish or cancel one ({_ids(mine)})",
        )


@transaction.atomic
def create_scenario(*, site: Site, request: dict[str, Any], name: str = "", actor: Any = None) -> Scenario:
    """Store a validated request as a queued scenario; its run starts once this transaction commits.

    Raises TooManyScenarios when the site or the engineer is at the limit of scenarios queued or running.
    """
    _check_active_limits(site, actor)
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
    A running scenario whose worker is gone (its run lock is free) is cancelled at once too.
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
    elif not runner.runner_alive(locked.pk):  # running, but its worker is gone: nobody would see the request
        locked.status, locked.finished_at = ScenarioStatus.CANCELLED, timezone.now()
        locked.error = "cancelled while running (its worker was lost)"
        fields += ["status", "finished_at", "error"]
    locked.save(update_fields=fields)
    return locked


def rerun_scenario(*, scenario: Scenario, actor: Any = None) -> Scenario:
    """Queue a new scenario with the request and name of a finished one (e.g. failed: its worker was lost)."""
    if not scenario.is_finished:
        raise ScenarioNotFinished(f"scenario #{scenario.pk} is {scenario.status}: cancel it first")
    return create_scenario(site=scenario.site, request=scenario.request, name=scenario.name, actor=actor)
