"""The model registry (trained versions, which one is active), the failure risk it scored per unit, and
the sensor anomalies it found (docs/ml.md)."""

from __future__ import annotations

from django.db import models

from analytics.alerts.models import Alert
from fleet.models import Site


class ModelKind(models.TextChoices):
    """One trained model per kind: failure risk per maintained equipment kind, anomalies per sensor kind."""

    FAILURE_TRUCK = "failure_truck", "Failure risk: trucks"
    FAILURE_CRUSHER = "failure_crusher", "Failure risk: crushers"
    FAILURE_LOADER = "failure_loader", "Failure risk: loaders"
    ANOMALY_TRUCK = "anomaly_truck", "Sensor anomalies: trucks"
    ANOMALY_CRUSHER = "anomaly_crusher", "Sensor anomalies: crushers"
    ANOMALY_STOCKPILE = "anomaly_stockpile", "Sensor anomalies: stockpiles"


class ModelVersion(models.Model):
    """One trained model in the registry: what it learned from, how it scored, and where its artifact is.

    The artifact is loaded only when its bytes still hash to `sha256`. At most one version per kind is
    active; a candidate becomes active only when it is no worse than the active one on the same validation
    rows (`promotion` keeps both sets of figures and the verdict per metric).
    """

    kind = models.CharField(max_length=32, choices=ModelKind)
    version = models.PositiveIntegerField(help_text="counts up per kind")
    trained_at = models.DateTimeField()
    training_start = models.DateTimeField(help_text="first reading used (simulated time)")
    training_end = models.DateTimeField(help_text="last reading used (simulated time)")
    sites = models.JSONField(default=list, help_text="ids of the sites whose history it learned from")
    features = models.JSONField(default=list, help_text="input columns, in order")
    metrics = models.JSONField(default=dict, help_text="validation figures of this version")
    promotion = models.JSONField(
        default=dict, help_text="candidate and active figures on the same validation rows, and the verdict"
    )
    metadata = models.JSONField(default=dict, blank=True, help_text="threshold, rows, training time ...")
    artifact_path = models.CharField(max_length=255, help_text="relative to settings.MODEL_DIR")
    sha256 = models.CharField(max_length=64)
    active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    provenance = models.CharField(
        max_length=200,
        blank=True,
        default="",
        help_text="where its training history came from: empty for the sites' own history, "
        "'simulated history, seeds …' for a bootstrap model",
    )

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="analytics_modelversion_kind_version"),
            models.UniqueConstraint(
                fields=["kind"], condition=models.Q(active=True), name="analytics_modelversion_one_active"
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """'failure_truck@3': how the API and the dashboard name a version."""
        return f"{self.kind}@{self.version}"


class BootstrapStatus(models.TextChoices):
    """Where a site's model bootstrap stands: queued, training, refining (the first models are active; some
    kinds are being retrained on more sites), done, or failed (retried later)."""

    QUEUED = "queued", "Queued"
    TRAINING = "training", "Training"
    REFINING = "refining", "Refining"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ModelBootstrap(models.Model):
    """The first models of a site that has none, trained on simulated histories of sites like it.

    One row per site, updated as the bootstrap runs (outside its registration transaction) so the API, the
    dashboard and /api/health can show the progress while it trains.
    """

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=BootstrapStatus, default=BootstrapStatus.QUEUED)
    step = models.CharField(max_length=200, blank=True, default="", help_text="what it is doing now")
    progress = models.FloatField(default=0.0, help_text="0-1")
    seeds = models.JSONField(default=list, help_text="engine seeds of the simulated histories")
    days = models.FloatField(default=0.0, help_text="simulated days per seed")
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"model bootstrap of site {self.site_id}: {self.status}"


class ScoredKind(models.TextChoices):
    """Kinds of unit the models score: failure risk of trucks, loaders and crushers (ModelKind.FAILURE_*),
    sensor anomalies of trucks, crushers and stockpiles (ModelKind.ANOMALY_*). Loaders keep no reading
    history, so this is wider than the engine's reading kinds (fleet.sim.schema.EQUIPMENT_KINDS)."""

    TRUCK = "truck", "Truck"
    LOADER = "loader", "Loader"
    CRUSHER = "crusher", "Crusher"
    STOCKPILE = "stockpile", "Stockpile"


class Prediction(models.Model):
    """A failure-model score of one unit at one simulated instant, kept to compare with what then happened.

    `failed` stays empty until the horizon has passed in simulated time; then it records whether the unit
    broke down within it (the live accuracy of the model).
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    equipment_kind = models.CharField(max_length=16, choices=ScoredKind)
    equipment_id = models.BigIntegerField()
    equipment_name = models.CharField(max_length=64)
    model = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="predictions")
    ts = models.DateTimeField(help_text="simulated time of the newest reading scored")
    site_tick = models.BigIntegerField(help_text="the site's tick when scored")
    created_at = models.DateTimeField(auto_now_add=True)
    failure_probability = models.FloatField()
    rul_h = models.FloatField("remaining useful life (h)", null=True)
    predicted_health = models.FloatField(
        "predicted health (0-100)",
        help_text="the model's, from failure probability and RUL; a unit's own `health` is the engine's",
    )
    warning = models.BooleanField(help_text="probability at or above the model's warning threshold")
    horizon_h = models.FloatField()
    factors = models.JSONField(default=list, help_text="[[signal, probability it adds], ...]")
    failed = models.BooleanField(null=True, help_text="broke down within the horizon; empty until known")

    class Meta:
        ordering = ["-ts"]
        indexes = [
            models.Index(
                fields=["site", "equipment_kind", "equipment_id", "-ts"], name="analytics_prediction_unit"
            ),
            models.Index(
                fields=["site", "ts"],
                condition=models.Q(failed__isnull=True),
                name="analytics_prediction_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.equipment_name}: {self.failure_probability:.0%} at {self.ts:%Y-%m-%d %H:%M}"


class Anomaly(models.Model):
    """A span of unusual sensor readings on one unit, with the sensors involved; raised as an alert."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    equipment_kind = models.CharField(max_length=16, choices=ScoredKind)
    equipment_id = models.BigIntegerField()
    equipment_name = models.CharField(max_length=64)
    model = models.ForeignKey(ModelVersion, on_delete=models.SET_NULL, null=True, related_name="anomalies")
    started_at = models.DateTimeField(help_text="simulated time of the first unusual reading")
    ended_at = models.DateTimeField(help_text="simulated time of the last unusual reading seen")
    score = models.FloatField(help_text="largest check value as a multiple of its alarm level (>= 1)")
    sensors = models.JSONField(default=list)
    checks = models.JSONField(default=list, help_text="level, level_long, rate, noise, stuck, forest")
    detected_at = models.DateTimeField(auto_now_add=True)
    alert = models.ForeignKey(Alert, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-ended_at"]
        verbose_name_plural = "anomalies"
        indexes = [
            models.Index(
                fields=["site", "equipment_kind", "equipment_id", "-ended_at"], name="analytics_anomaly_unit"
            )
        ]

    def __str__(self) -> str:
        return f"{self.equipment_name}: {', '.join(self.sensors)} at {self.started_at:%Y-%m-%d %H:%M}"
