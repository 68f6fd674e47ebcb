"""Alerts on equipment: raised by the system, acknowledged and cleared by operators."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from fleet.models import Site


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class Alert(models.Model):
    """Something wrong with one piece of equipment that an operator should see.

    At most one alert is open per equipment and kind: raising it again updates the open one (severity,
    message, repeat count) instead of flooding the list. An alert is open until it is cleared; acknowledging
    only records that someone has seen it.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="alerts")
    equipment_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    equipment_id = models.PositiveBigIntegerField()
    equipment = GenericForeignKey("equipment_type", "equipment_id")
    equipment_name = models.CharField(max_length=64, help_text="fleet number or name when raised")
    kind = models.CharField(max_length=64, help_text="what is wrong, e.g. engine_overheat, low_fuel")
    severity = models.CharField(max_length=10, choices=AlertSeverity, default=AlertSeverity.WARNING)
    message = models.TextField()
    raised_at = models.DateTimeField(help_text="first raised")
    last_raised_at = models.DateTimeField(help_text="raised again most recently")
    repeat_count = models.PositiveIntegerField(default=1, help_text="times raised while open")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cleared_at = models.DateTimeField(null=True, blank=True, db_index=True)
    cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-last_raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["equipment_type", "equipment_id", "kind"],
                condition=models.Q(cleared_at__isnull=True),
                name="analytics_alert_one_open_per_equipment_kind",
            )
        ]
        indexes = [models.Index(fields=["site", "-last_raised_at"], name="analytics_alert_site_recent")]
        # The app's own permissions, declared here since migration 0001 (names in analytics.permissions).
        permissions = [
            ("acknowledge_alert", "Can acknowledge and clear alerts"),
            ("retrain_models", "Can retrain the analytics models"),
            ("run_scenarios", "Can run dispatch and production scenarios"),
        ]

    def __str__(self) -> str:
        return f"{self.equipment_name}: {self.kind}"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None
