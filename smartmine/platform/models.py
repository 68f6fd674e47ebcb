"""Platform records that belong to no single domain: the audit log of operator and engineer actions."""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    ACKNOWLEDGE_ALERT = "acknowledge_alert", "Acknowledge alert"
    CLEAR_ALERT = "clear_alert", "Clear alert"
    SHELVE_ALERT = "shelve_alert", "Shelve or unshelve alert"
    STATUS_CHANGE = "status_change", "Equipment status change"
    PAUSE_SITE = "pause_site", "Pause or resume a site"
    SITE_SETTINGS = "site_settings", "Site settings change"
    RECLAIM_RATE = "reclaim_rate", "Stockpile reclaim rate change"
    RETRAIN = "retrain", "Model retraining"
    SCENARIO = "scenario", "What-if scenario"
    SCHEDULE_CHANGE = "schedule_change", "Beat schedule change"
    RECOMMENDATION = "recommendation", "Recommendation accepted or dismissed"


class AuditEntry(models.Model):
    """Who did what to which object, and when. Append-only: the database refuses UPDATE and DELETE."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # No database constraint and no SET NULL: deleting a user must not rewrite (or be blocked by) history.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, help_text="kept if the user is deleted; 'system' for tasks")
    action = models.CharField(max_length=32, choices=AuditAction, db_index=True)
    target = models.CharField(max_length=200, help_text="what it was done to, e.g. 'truck HT-03 (#12)'")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target}"
