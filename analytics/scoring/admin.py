"""Admin pages of the model registry, predictions and anomalies: written by training and scoring, so
read-only."""

from django.contrib import admin

from analytics.ml.lifecycle import verdict
from analytics.scoring.models import Anomaly, ModelVersion, Prediction
from smartmine.platform.admin_mixins import ReadOnlyAdminMixin


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the system (training, scoring); people only read them."""


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = [
        "__str__", "kind", "version", "active", "promotion_verdict", "calibration_error", "trained_at",
        "training_start", "training_end",
    ]  # fmt: skip
    list_filter = ["kind", "active"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields] + ["promotion_verdict", "calibration_error"]

    @admin.display(description="promotion")
    def promotion_verdict(self, obj: ModelVersion) -> str:
        """Why the registry activated this version or not (a refused one names the figures it failed on)."""
        return verdict(obj.promotion) or "-"

    @admin.display(description="ECE")
    def calibration_error(self, obj: ModelVersion) -> str:
        """Expected calibration error on validation (failure models; the reliability table is in metrics)."""
        value = obj.metrics.get("ece")
        return "-" if value is None else f"{value:.3f}"


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = [
        "equipment_name", "equipment_kind", "ts", "failure_probability", "rul_h", "predicted_health",
        "warning", "failed", "model",
    ]  # fmt: skip
    list_filter = ["site", "equipment_kind", "warning", "failed"]
    list_select_related = ["model"]
    search_fields = ["equipment_name"]


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    list_display = ["equipment_name", "equipment_kind", "started_at", "ended_at", "score", "sensors", "alert"]
    list_filter = ["site", "equipment_kind"]
    search_fields = ["equipment_name"]
