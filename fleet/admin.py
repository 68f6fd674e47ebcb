"""The SmartMine control room (Django admin): fleet models, and shared pieces plants and stockpiles reuse.

Admin code only shows things and calls services: every action goes through a service of the app that owns
the data. Apps above fleet add panels to equipment pages through EQUIPMENT_INLINES. Reading tables are
read-only and stay fast on tens of millions of rows: no full COUNT (the paginator asks the planner), and the
date drill-down comes from the partition catalogue, not a scan.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import models
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html

from fleet import choices, readings, selectors, services
from fleet.models import HaulRoad, Loader, MiningZone, Site, Truck, TruckReading, TruckRollup, WasteDump
from smartmine.platform.admin_mixins import ReadOnlyAdminMixin

#: Below this many estimated rows an exact COUNT is cheap, and a wrong estimate would show.
EXACT_COUNT_BELOW = 10_000


def status_badge(value: str, label: str | None = None) -> str:
    colour = choices.STATUS_COLOURS.get(value, "#616161")
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px;white-space:nowrap">'
        "{}</span>",
        colour,
        label or value.replace("_", " "),
    )


class StatusBadgeMixin:
    @admin.display(description="status", ordering="status")
    def status_badge(self, obj) -> str:
        return status_badge(obj.status, obj.get_status_display())


# --- Equipment pages: panels other apps add, and the latest readings, read-only

#: Inlines apps above fleet add to every equipment page, before the page's own (analytics: open alerts).
EQUIPMENT_INLINES: list[type[InlineModelAdmin]] = []


class EquipmentPageMixin:
    """Equipment pages show the panels other apps registered in EQUIPMENT_INLINES, then their own inlines."""

    def get_inlines(self, request: HttpRequest, obj):
        return [*EQUIPMENT_INLINES, *super().get_inlines(request, obj)]


class LatestReadingsFormSet(BaseInlineFormSet):
    """Only the newest readings of this equipment (a formset cannot take a sliced queryset directly)."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            ids = selectors.latest_reading_ids(self.instance) if self.instance.pk else []
            self._latest = self.model.objects.filter(id__in=ids).order_by("-ts")
        return self._latest


def latest_readings_inline(reading_model: type[models.Model]) -> type[admin.TabularInline]:
    """A read-only inline showing the last 50 readings of `reading_model` on its equipment's page."""
    columns = ["ts", "status", *readings.history(_kind_of(reading_model)).sensors]
    return type(
        f"{reading_model.__name__}Inline",
        (ReadOnlyInline,),
        {
            "model": reading_model,
            "fk_name": "equipment",
            "formset": LatestReadingsFormSet,
            "fields": columns,
            "readonly_fields": columns,
            "verbose_name_plural": f"latest {selectors.LATEST_READINGS_SHOWN} readings",
        },
    )


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = max_num = 0
    can_delete = False
    classes = ["collapse"]


def _kind_of(model: type[models.Model]) -> str:
    return next(
        item.kind for item in readings.histories() if model in (item.reading, item.rollup, item.equipment)
    )


# --- Equipment admin: status actions through services


class EquipmentAdmin(EquipmentPageMixin, StatusBadgeMixin, admin.ModelAdmin):
    """Trucks, loaders and crushers: send to maintenance / return to service."""

    actions = ["send_to_maintenance", "return_to_service"]
    list_select_related = ["site"]
    search_fields = ["name", "model"]

    def has_change_equipment_status_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(choices.CHANGE_EQUIPMENT_STATUS)

    @admin.action(description="Send to maintenance", permissions=["change_equipment_status"])
    def send_to_maintenance(self, request, queryset) -> None:
        changed = services.send_to_maintenance(equipment=queryset, actor=request.user)
        self.message_user(request, f"{changed} sent to maintenance.", messages.SUCCESS)

    @admin.action(description="Return to service", permissions=["change_equipment_status"])
    def return_to_service(self, request, queryset) -> None:
        changed = services.return_to_service(equipment=queryset, actor=request.user)
        self.message_user(request, f"{changed} returned to service.", messages.SUCCESS)


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "running",
        "dispatch_strategy",
        "tick",
        "last_tick_at",
        "sim_clock",
        "is_default",
    ]
    list_filter = ["paused", "dispatch_strategy", "is_default"]
    search_fields = ["name", "slug"]
    readonly_fields = ["tick", "last_tick_at", "sim_clock", "created_at"]
    exclude = ["sim_state"]
    actions = ["pause_simulation", "resume_simulation"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="simulation", ordering="paused")
    def running(self, obj: Site) -> str:
        return status_badge("maintenance", "paused") if obj.paused else status_badge("running", "running")

    def has_control_simulation_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(choices.CONTROL_SIMULATION)

    @admin.action(description="Pause simulation", permissions=["control_simulation"])
    def pause_simulation(self, request, queryset) -> None:
        changed = services.set_site_paused(sites=queryset, paused=True, actor=request.user)
        self.message_user(request, f"{changed} site(s) paused.", messages.SUCCESS)

    @admin.action(description="Resume simulation", permissions=["control_simulation"])
    def resume_simulation(self, request, queryset) -> None:
        changed = services.set_site_paused(sites=queryset, paused=False, actor=request.user)
        self.message_user(request, f"{changed} site(s) resumed.", messages.SUCCESS)


@admin.register(MiningZone)
class MiningZoneAdmin(StatusBadgeMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "site",
        "pit",
        "material",
        "grade_pct",
        "remaining_t",
        "shift_target_t",
        "status_badge",
    ]
    list_filter = ["site", "status", "material", "pit"]
    search_fields = ["name", "pit"]
    list_select_related = ["site"]


@admin.register(Loader)
class LoaderAdmin(EquipmentAdmin):
    list_display = [
        "name",
        "site",
        "model",
        "zone",
        "dig_rate_tph",
        "bucket_t",
        "health",
        "status_badge",
        "live",
    ]
    list_filter = ["site", "status", "zone", "model", "live"]
    list_select_related = ["site", "zone"]


@admin.register(HaulRoad)
class HaulRoadAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "site",
        "from_point",
        "to_point",
        "length_m",
        "grade_pct",
        "speed_limit_loaded_kmh",
    ]
    list_filter = ["site"]
    search_fields = ["name", "from_point", "to_point"]
    list_select_related = ["site"]


@admin.register(WasteDump)
class WasteDumpAdmin(admin.ModelAdmin):
    list_display = ["name", "site", "capacity_t", "dumped_t", "tip_points", "live"]
    list_filter = ["site"]
    search_fields = ["name"]
    list_select_related = ["site"]


@admin.register(Truck)
class TruckAdmin(EquipmentAdmin):
    list_display = [
        "name",
        "site",
        "model",
        "status_badge",
        "payload_t",
        "fuel_l",
        "speed_kmh",
        "health",
        "assigned_loader",
        "last_reading_at",
        "live",
    ]
    list_filter = ["site", "status", "model", "assigned_loader__zone", "live"]
    list_select_related = ["site", "assigned_loader"]
    ordering = ["site", "name"]
    inlines = [latest_readings_inline(TruckReading)]


# --- History admin: read-only, fast on very large partitioned tables


class EstimatedCountPaginator(Paginator):
    """Counts with the planner's estimate instead of a full COUNT(*) once the table is large."""

    @cached_property
    def count(self) -> int:
        estimate = selectors.estimated_count(self.object_list)
        return self.object_list.count() if estimate < EXACT_COUNT_BELOW else estimate


class PartitionDaysQuerySet(models.QuerySet):
    """Admin-only: answers the date drill-down from the partition catalogue instead of scanning readings."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        days = sorted(_partition_days(self.model))
        year, month = getattr(self, "_year", None), getattr(self, "_month", None)
        days = [d for d in days if (year is None or d.year == year) and (month is None or d.month == month)]
        truncate = {"year": lambda d: d.replace(month=1, day=1), "month": lambda d: d.replace(day=1)}
        values = sorted({truncate.get(kind, lambda d: d)(d) for d in days}, reverse=order == "DESC")
        return [dt.datetime(v.year, v.month, v.day, tzinfo=dt.UTC) for v in values]


def _partition_days(model: type[models.Model]) -> set[dt.date]:
    """Days covered by the model's partitions, up to today (future partitions hold nothing yet)."""
    today = timezone.now().date()
    days: set[dt.date] = set()
    for name in readings.partitions(model._meta.db_table):
        end = readings.partition_end(name)
        if end is None:
            continue
        last = end - dt.timedelta(days=1)
        first = last if readings.is_daily_partition(name) else last.replace(day=1)
        days.update(day for day in readings.days_between(first, last) if day <= today)
    return days


class HistoryChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        queryset.__class__ = PartitionDaysQuerySet
        field = self.date_hierarchy
        queryset._year = _int(self.params.get(f"{field}__year"))
        queryset._month = _int(self.params.get(f"{field}__month"))
        return queryset


def _int(value) -> int | None:
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class HistoryAdmin(ReadOnlyAdminMixin, StatusBadgeMixin, admin.ModelAdmin):
    """Read-only reading or rollup table, opened on the newest day so queries stay inside one partition."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    list_select_related = ["equipment"]
    list_filter = ["equipment__site"]
    raw_id_fields = ["equipment"]

    def get_changelist(self, request, **kwargs):
        return HistoryChangeList

    def changelist_view(self, request, extra_context=None):
        field = self.date_hierarchy
        if not any(key.startswith(f"{field}__") for key in request.GET):
            newest = _kind_equipment(self.model).objects.aggregate(newest=models.Max("last_reading_at"))[
                "newest"
            ]
            day = (newest or timezone.now()).astimezone(dt.UTC).date()
            query = request.GET.copy()
            query.update({f"{field}__year": day.year, f"{field}__month": day.month, f"{field}__day": day.day})
            return HttpResponseRedirect(f"{request.path}?{query.urlencode()}")
        return super().changelist_view(request, extra_context)


def _kind_equipment(model: type[models.Model]) -> type[models.Model]:
    return readings.history(_kind_of(model)).equipment


def reading_admin(model: type[models.Model]) -> type[HistoryAdmin]:
    """The admin class for a reading table: time, equipment, status and every sensor."""
    sensors = readings.history(_kind_of(model)).sensors
    return type(
        f"{model.__name__}Admin",
        (HistoryAdmin,),
        {
            "list_display": ["ts", "equipment", "status_badge", *sensors],
            "list_filter": ["equipment__site", "status"],
            "date_hierarchy": "ts",
            "ordering": ["-ts"],
        },
    )


def rollup_admin(model: type[models.Model]) -> type[HistoryAdmin]:
    """The admin class for a rollup table: minute, equipment, sample count and the averages."""
    sensors = readings.history(_kind_of(model)).sensors
    return type(
        f"{model.__name__}Admin",
        (HistoryAdmin,),
        {
            "list_display": ["bucket", "equipment", "samples", *(f"{name}_avg" for name in sensors)],
            "date_hierarchy": "bucket",
            "ordering": ["-bucket"],
        },
    )


admin.site.register(TruckReading, reading_admin(TruckReading))
admin.site.register(TruckRollup, rollup_admin(TruckRollup))
