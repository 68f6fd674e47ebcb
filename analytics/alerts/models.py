"""Alerts (alarms) on equipment: raised by the system from alarm rules, acknowledged, shelved and cleared.

Vocabulary of ISA-18.2 / IEC 62682 (docs/alarms.md): an alarm is *active* while its condition holds (here:
`cleared_at` is None), *returned to normal* once cleared; acknowledging records that an operator has seen it;
shelving hides it from the operator for a time, with a reason.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from analytics.alerts import engine
from fleet.models import Site


class AlertSeverity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


class AlarmRule(models.Model):
    """One alarm rule, managed by operators and engineers: what condition on which kind of unit raises an
    alarm, with its deadband and delays against chattering, its priority and what the operator should do.

    The rule engine (analytics.alerts.engine) evaluates every enabled rule at every tick and on every
    telemetry batch; a change here takes effect at the next tick.
    """

    class Kind(models.TextChoices):
        EQUIPMENT_STATE = "equipment_state", "Equipment state"
        SENSOR_THRESHOLD = "sensor_threshold", "Sensor threshold"
        STOCKPILE_LEVEL = "stockpile_level", "Stockpile level"
        QUEUE = "queue", "Queue at a loader or crusher"
        SILENCE = "silence", "Telemetry silence of a live unit"
        ML_RISK = "ml_risk", "ML failure risk"
        ANOMALY = "anomaly", "ML anomaly"

    class UnitKind(models.TextChoices):
        TRUCK = "truck"
        LOADER = "loader"
        CRUSHER = "crusher"
        STOCKPILE = "stockpile"

    class Comparison(models.TextChoices):
        AT_LEAST = ">=", "at or above the limit"
        AT_MOST = "<=", "at or below the limit"
        IN_STATES = "in", "in one of the states"

    code = models.SlugField(
        max_length=64, unique=True, help_text="the alert kind it raises, e.g. truck_breakdown"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=20, choices=Kind)
    unit_kind = models.CharField(max_length=12, choices=UnitKind)
    field = models.CharField(
        max_length=40,
        help_text="a sensor (engine_temp_c, utilisation_pct, fuel_pct...), status, queue_length, "
        "silence_s or telemetry (a live unit's state: live or stale)",
    )
    comparison = models.CharField(max_length=2, choices=Comparison)
    limit = models.FloatField(null=True, blank=True, help_text="for >= and <=")
    states = models.CharField(max_length=200, blank=True, help_text="for 'in': states, comma-separated")
    deadband = models.FloatField(default=0.0, help_text="how far back past the limit before it clears")
    on_delay_s = models.FloatField(default=0.0, help_text="condition held this long before it is raised")
    off_delay_s = models.FloatField(default=0.0, help_text="condition gone this long before it clears")
    severity = models.CharField(
        max_length=10, choices=AlertSeverity, default=AlertSeverity.WARNING,
        help_text="ISA-18.2 priority: critical = high, warning = medium, info = low",
    )  # fmt: skip
    explanation = models.TextField(help_text="what the alarm means (shown with it)")
    operator_action = models.TextField(help_text="what the operator should do")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["unit_kind", "code"]

    def __str__(self) -> str:
        return self.name

    def as_engine_rule(self) -> engine.Rule:
        """The plain rule the engine evaluates; RuleError names the rule and field at fault."""
        return engine.Rule(
            id=self.pk, code=self.code, kind=self.kind, unit_kind=self.unit_kind, field=self.field,
            comparison=self.comparison, limit=self.limit,
            states=frozenset(s.strip() for s in self.states.split(",") if s.strip()),
            deadband=self.deadband, on_delay_s=self.on_delay_s, off_delay_s=self.off_delay_s,
            severity=self.severity, title=self.name,
        )  # fmt: skip

    def clean(self) -> None:
        try:
            self.as_engine_rule()
        except engine.RuleError as error:
            raise ValidationError(str(error)) from error


class AlarmState(models.TextChoices):
    """The ISA-18.2 alarm states an alert can be in."""

    UNACKNOWLEDGED = "unacknowledged", "Active, unacknowledged"
    ACKNOWLEDGED = "acknowledged", "Active, acknowledged"
    RTN_UNACKNOWLEDGED = "rtn_unacknowledged", "Returned to normal, unacknowledged"
    NORMAL = "normal", "Normal"
    SHELVED = "shelved", "Shelved"
    SUPPRESSED = "suppressed", "Suppressed by design (rule disabled)"


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
    rule = models.ForeignKey(
        AlarmRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts",
        help_text="the alarm rule that raised it (none: raised by the ML scoring path)",
    )  # fmt: skip
    last_value = models.FloatField(null=True, blank=True, help_text="the value at the latest raise or update")
    annunciated = models.BooleanField(default=True, help_text="false when raised while its alarm was shelved")
    shelved_until = models.DateTimeField(null=True, blank=True)
    shelved_reason = models.CharField(max_length=200, blank=True)
    shelved_by = models.ForeignKey(
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

    @property
    def is_shelved(self) -> bool:
        return self.shelved_until is not None and self.shelved_until > timezone.now()

    @property
    def state(self) -> str:
        """The ISA-18.2 state (AlarmState) of this alert now."""
        if self.rule_id is not None and self.rule is not None and not self.rule.enabled and self.is_open:
            return AlarmState.SUPPRESSED
        if self.is_shelved and self.is_open:
            return AlarmState.SHELVED
        if self.is_open:
            return AlarmState.ACKNOWLEDGED if self.acknowledged_at else AlarmState.UNACKNOWLEDGED
        return AlarmState.NORMAL if self.acknowledged_at else AlarmState.RTN_UNACKNOWLEDGED
