"""Admin pages of the model registry, predictions and anomalies: written by training and scoring, so
read-only."""

from django.contrib import admin

from analytics.scoring.models import Anomaly, ModelVersion, Prediction
from smartmine.platform.admin_mixins import ReadOnlyAdminMixin


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Written by the system (training, scoring); people only read them."""


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "kind", "version", "active", "trained_at", "training_start", "training_end"]
    list_filter = ["kind", "active"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdmin):
    list_display = [
        "equipment_name", "equipment_kind", "ts", "failure_probability", "rul_h", "health", "warning",
        "failed", "model",
    ]  # fmt: skip
    list_filter = ["site", "equipment_kind", "warning", "failed"]
    list_select_related = ["model"]
    search_fields = ["equipment_name"]


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    list_display = ["equipment_name", "equipment_kind", "started_at", "ended_at", "score", "sensors", "alert"]
    list_filter = ["site", "equipment_kind"]
    search_fields = ["equipment_name"]
