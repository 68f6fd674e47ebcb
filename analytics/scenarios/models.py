"""What-if scenarios: a request to re-run a site headless with changes, its progress and its results.

Loaded by analytics/models.py, so the model belongs to the analytics app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from fleet.models import Site


class ScenarioStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


#: Statuses a scenario never leaves.
FINISHED_STATUSES = (ScenarioStatus.DONE, ScenarioStatus.CANCELLED, ScenarioStatus.FAILED)


class ScenarioKind(models.TextChoices):
    WHAT_IF = "what_if", "What-if"
    FLEET_SIZING = "fleet_sizing", "Fleet sizing"


class Scenario(models.Model):
    """An engineer's "what if": the site's engine run headless over seeds, unchanged (the baseline) and
    with the changes (or at each fleet size of a sweep), so the two can be compared seed by seed.

    `request` is the validated request (docs/scenarios.md); `results` holds per-seed and aggregate figures
    for the baseline and the scenario and their differences, partial when cancelled.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="scenarios")
    name = models.CharField(max_length=200, blank=True, help_text="what the engineer wants to find out")
    kind = models.CharField(max_length=16, choices=ScenarioKind, default=ScenarioKind.WHAT_IF)
    status = models.CharField(
        max_length=16, choices=ScenarioStatus, default=ScenarioStatus.QUEUED, db_index=True
    )
    progress_pct = models.PositiveSmallIntegerField("progress (%)", default=0)
    cancel_requested = models.BooleanField(
        default=False, help_text="set by a cancel; the running task stops at its next check"
    )
    error = models.TextField(blank=True, help_text="why it failed (or was stopped)")
    request = models.JSONField(default=dict, help_text="the validated changes, shift and seeds")
    results = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
