"""Advice for the control room, accepted or dismissed by operators."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from fleet.models import Site


class RecommendationStatus(models.TextChoices):
    NEW = "new", "New"
    ACCEPTED = "accepted", "Accepted"
    DISMISSED = "dismissed", "Dismissed"
    EXPIRED = "expired", "Expired"


class RecommendationPriority(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class Recommendation(models.Model):
    """Advice for the control room: service a unit, change the dispatch strategy, adjust a stockpile.

    At most one new (undecided) recommendation exists per site, kind and subject: raising it again updates
    it. Operators accept or dismiss it; it expires when its condition no longer holds or its time passes.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="recommendations")
    kind = models.CharField(max_length=32, help_text="maintenance, dispatch, stockpile, fleet_sizing ...")
    subject = models.CharField(max_length=64, help_text="what it is about, e.g. truck:12 or site")
    priority = models.CharField(
        max_length=8, choices=RecommendationPriority, default=RecommendationPriority.MEDIUM
    )
    title = models.CharField(max_length=200)
    reasoning = models.TextField(help_text="why, in plain words")
    expected_impact = models.CharField(max_length=200, help_text="e.g. +1,200 t this shift")
    impact_t = models.FloatField("expected impact (t)", null=True, blank=True)
    impact_h = models.FloatField("expected impact (h)", null=True, blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="the figures behind it")
    status = models.CharField(
        max_length=10, choices=RecommendationStatus, default=RecommendationStatus.NEW, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(help_text="expires unless raised again before then")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind", "subject"],
                condition=models.Q(status="new"),
                name="analytics_recommendation_one_open",
            )
        ]
        indexes = [models.Index(fields=["site", "status", "-created_at"], name="analytics_rec_site_status")]
        permissions = [("decide_recommendation", "Can accept and dismiss recommendations")]

    def __str__(self) -> str:
        return self.title


class DispatchLookahead(models.Model):
    """When the dispatch look-ahead last ran for a site, in the site's simulated time, and what it found.

    The look-ahead simulates every strategy for two hours from the mine as it is (seconds of CPU at 1,000
    trucks), so it runs once per LOOKAHEAD_EVERY of simulated time whatever the tick interval, and this row
    says when it is next due.
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, primary_key=True, related_name="+")
    ran_at = models.DateTimeField(help_text="simulated time of the state the look-ahead started from")
    tonnes = models.JSONField(default=dict, help_text="tonnes dumped in the look-ahead, per strategy")

    def __str__(self) -> str:
        return f"dispatch look-ahead of site {self.site_id} at {self.ran_at:%Y-%m-%d %H:%M}"
