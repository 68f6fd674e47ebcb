"""Writes for what-if scenarios: create (queues the run after commit) and cancel, each audited.

The run itself is analytics.scenarios.runner, started by analytics.scenarios.tasks.run_scenario_task.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics.scenarios.models import Scenario, ScenarioKind, ScenarioStatus
from analytics.scenarios.tasks import run_scenario_task
from fleet.models import Site
from smartmine.platform import audit
from smartmine.platform.models import AuditAction


class ScenarioFinished(ValueError):
    """The scenario is done, failed or cancelled already: nothing to cancel."""


@transaction.atomic
def create_scenario(*, site: Site, request: dict[str, Any], name: str = "", actor: Any = None) -> Scenario:
    """Store a validated request as a queued scenario; its run starts once this transaction commits."""
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
