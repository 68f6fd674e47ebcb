"""Control-room pages: alerts (acknowledge, clear) and recommendations (accept, dismiss) through
analytics.services; the model registry, predictions and anomalies read-only."""

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html

from analytics import services
from analytics.models import Alert, AlertSeverity, Anomaly, ModelVersion, Prediction, Recommendation
from fleet import choices

SEVERITY_COLOURS = {
    AlertSeverity.INFO: "#0277bd",
    AlertSeverity.WARNING: "#ef6c00",
    AlertSeverity.CRITICAL: "#c62828",
}


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("unacknowledged", "Open, not acknowledged"), ("cleared", "Cleared")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(cleared_at__isnull=True)
        if self.value() == "unacknowledged":
            return queryset.filter(cleared_at__isnull=True, acknowledged_at__isnull=True)
        if self.value() == "cleared":
            return queryset.filter(cleared_at__isnull=False)
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "severity_badge",
        "equipment_name",
        "kind",
        "message",
        "site",
        "last_raised_at",
        "repeat_count",
        "acknowledged_by",
        "acknowledged_at",
        "cleared_at",
    ]
    list_filter = [OpenFilter, "site", "severity", "kind", "equipment_type"]
    search_fields = ["equipment_name", "kind", "message"]
    list_select_related = ["site", "acknowledged_by"]
    date_hierarchy = "last_raised_at"
    actions = ["acknowledge", "clear"]
    readonly_fields = [
        "site",
        "equipment_type",
        "equipment_id",
        "equipment_name",
        "kind",
        "severity",
        "message",
        "raised_at",
        "last_raised_at",
        "repeat_count",
        "acknowledged_at",
        "acknowledged_by",
        "cleared_at",
        "cleared_by",
    ]

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, obj: Alert) -> str:
        return format_html(
            '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px">{}</span>',
            SEVERITY_COLOURS.get(obj.severity, "#616161"),
            obj.get_severity_display(),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # alerts are raised by the system, not typed in

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(choices.ACKNOWLEDGE_ALERT)

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset) -> None:
        count = services.acknowledge_alerts(alerts=queryset, user=request.user)
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)

    @admin.action(description="Clear selected alerts", permissions=["acknowledge"])
    def clear(self, request, queryset) -> None:
        count = services.clear_alerts(alerts=queryset, user=request.user)
        self.message_user(request, f"{count} alert(s) cleared.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the system (training, scoring); people only read them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = [
        "title", "kind", "priority", "status", "expected_impact", "site", "created_at", "decided_by",
    ]  # fmt: skip
    list_filter = ["status", "kind", "priority", "site"]
    search_fields = ["title", "reasoning", "subject"]
    actions = ["accept", "dismiss"]
    readonly_fields = [f.name for f in Recommendation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # raised by the system and by scenarios

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("analytics.decide_recommendation")

    def _decide(self, request, queryset, *, accept: bool) -> None:
        changed = sum(
            services.decide_recommendation(recommendation=rec, user=request.user, accept=accept)
            for rec in queryset.order_by("pk")
        )
        verb = "accepted" if accept else "dismissed"
        self.message_user(request, f"{changed} recommendation(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Accept selected recommendations", permissions=["decide"])
    def accept(self, request, queryset) -> None:
        self._decide(request, queryset, accept=True)

    @admin.action(description="Dismiss selected recommendations", permissions=["decide"])
    def dismiss(self, request, queryset) -> None:
        self._decide(request, queryset, accept=False)


import analytics.scenario_admin  # noqa: E402,F401 - registers the Scenario admin
