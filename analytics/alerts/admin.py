"""Control-room page of alerts: operators acknowledge and clear them (through analytics.alerts.services).

Every equipment page (trucks, loaders, crushers, stockpiles) also shows its open alerts: the panel is added
through fleet's EQUIPMENT_INLINES, so the equipment apps need not know about alerts."""

from django.contrib import admin, messages
from django.contrib.contenttypes.admin import GenericTabularInline
from django.http import HttpRequest
from django.utils.html import format_html

from analytics.alerts import services
from analytics.alerts.models import AlarmRule, Alert, AlertSeverity
from analytics.permissions import ACKNOWLEDGE_ALERT
from fleet.admin import EQUIPMENT_INLINES
from smartmine.platform.admin_mixins import ReadOnlyAdminMixin

SEVERITY_COLOURS = {
    AlertSeverity.INFO: "#0277bd",
    AlertSeverity.WARNING: "#ef6c00",
    AlertSeverity.CRITICAL: "#c62828",
}


class OpenAlertsInline(ReadOnlyAdminMixin, GenericTabularInline):
    model = Alert
    ct_field, ct_fk_field = "equipment_type", "equipment_id"
    verbose_name_plural = "open alerts"
    fields = readonly_fields = [
        "kind",
        "severity",
        "message",
        "last_raised_at",
        "repeat_count",
        "acknowledged_by",
    ]
    extra = max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).filter(cleared_at__isnull=True).select_related("acknowledged_by")


EQUIPMENT_INLINES.append(OpenAlertsInline)


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
        return request.user.has_perm(ACKNOWLEDGE_ALERT)

    @admin.action(description="Acknowledge selected alerts", permissions=["acknowledge"])
    def acknowledge(self, request, queryset) -> None:
        count = services.acknowledge_alerts(alerts=queryset, user=request.user)
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)

    @admin.action(description="Clear selected alerts", permissions=["acknowledge"])
    def clear(self, request, queryset) -> None:
        count = services.clear_alerts(alerts=queryset, user=request.user)
        self.message_user(request, f"{count} alert(s) cleared.", messages.SUCCESS)


@admin.register(AlarmRule)
class AlarmRuleAdmin(admin.ModelAdmin):
    """Operators and engineers tune the alarm rules here; a change applies from the next tick."""

    list_display = ["name", "code", "kind", "unit_kind", "field", "comparison", "limit", "states", "deadband",
                    "on_delay_s", "off_delay_s", "severity", "enabled"]  # fmt: skip
    list_filter = ["kind", "unit_kind", "severity", "enabled"]
    list_editable = ["limit", "deadband", "on_delay_s", "off_delay_s", "severity", "enabled"]
    search_fields = ["code", "name", "explanation"]
