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

from fleet import choices, histories, partitions, selectors, services
from fleet.models import HaulRoad, Loader, MiningZone, Site, Truck, TruckReading, TruckRollup, WasteDump
from smartmine.platform.admin_mixins import ReadOnlyAdminMixin

#: Below this many estimated rows an exact COUNT is cheap, and a wrong estimate would show.
EXACT_COUNT_BELOW = 10_000


def status_badge(value: str, label: str | None = None) -> str:
    """A status as a badge in the dashboard legend's colour (fleet.choices.STATUS_COLOURS)."""
    colour = choices.STATUS_COLOURS.get(value, choices.UNKNOWN_STATUS_COLOUR)
    text = "#212121" if value in choices.LIGHT_STATUSES else "#fff"
    return format_html(
        '<span class="status-badge" style="background:{};color:{};padding:2px 8px;border-radius:10px;'
        'white-space:nowrap">{}</span>',
        colour,
        text,
        label or value.replace("_", " "),
    )


# --- Numbers rounded to their meaning

#: How lists show a measure, by the unit its name ends with: the unit's label and the decimals that mean
#: something in a control room (a tonne to 0.1, a temperature to the degree); longest suffix first.
UNITS: dict[str, tuple[str, int]] = {
    "_mm_s": ("mm/s", 1),
    "_t_m3": ("t/m³", 2),
    "_kmh": ("km/h", 1),
    "_pct": ("%", 1),
    "_tph": ("t/h", 0),
    "_kpa": ("kPa", 0),
    "_deg": ("°", 0),
    "_kw": ("kW", 0),
    "_rl_m": ("m", 1),
    "_c": ("°C", 0),
    "_l": ("L", 0),
    "_t": ("t", 1),
    "_m": ("m", 0),
    "_h": ("h", 1),
}
#: Measures whose name carries no unit: (label, decimals). Coordinates to 5 decimals, about a metre.
NAMED_MEASURES: dict[str, tuple[str, int]] = {
    "lat": ("", 5),
    "lon": ("", 5),
    "health": ("%", 1),
    "engine_hours": ("h", 1),
}


def measure_unit(name: str) -> tuple[str, str, int] | None:
    """(what it is, unit label, decimals) for a measure's field name, None for anything else.

    A rollup's average (`payload_t_avg`) is shown like the measure it averages."""
    base = name.removesuffix("_avg")
    if base in NAMED_MEASURES:
        return (base, *NAMED_MEASURES[base])
    for suffix, (unit, decimals) in UNITS.items():
        if base.endswith(suffix) and len(base) > len(suffix):
            return (base.removesuffix(suffix), unit, decimals)
    return None


def format_measure(value: float | None, decimals: int) -> str:
    """A number to `decimals` places with thousands separated; '-' when there is none."""
    if value is None:
        return "-"
    return f"{value:,.{decimals}f}"


def measure_column(name: str):
    """A list column showing field `name` rounded to its meaning, titled with its unit, sortable."""
    found = measure_unit(name)
    if found is None:
        raise ValueError(f"measure_column: {name!r} has no unit this admin knows (UNITS, NAMED_MEASURES)")
    what, unit, decimals = found
    title = what.replace("_", " ") + ("" if name == what or not name.endswith("_avg") else " avg")
    title = f"{title} ({unit})" if unit else title

    @admin.display(description=title, ordering=name)
    def column(obj) -> str:
        return format_measure(getattr(obj, name), decimals)

    column.__name__ = f"{name}_rounded"
    return column


def with_measures(fields: list) -> list:
    """list_display with every measure (a field name with a known unit) shown rounded to its meaning."""
    return [measure_column(f) if isinstance(f, str) and measure_unit(f) is not None else f for f in fields]


@admin.display(description="last reading", ordering="last_reading_at")
def last_reading(obj) -> str:
    """The time of the unit's newest reading, short: today's as a time, older ones with their day."""
    when = obj.last_reading_at
    if when is None:
        return "-"
    local = timezone.localtime(when)
    return f"{local:%H:%M:%S}" if local.date() == timezone.localdate() else f"{local:%d %b %H:%M}"


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
    columns = ["ts", "status", *histories.history(_kind_of(reading_model)).sensors]
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
        item.kind for item in histories.histories() if model in (item.reading, item.rollup, item.equipment)
    )


# --- Equipment admin: status actions through services


class HandBackAdminMixin:
    """The operators' hand-back of live or stale units to the simulator (fleet.services), with their
    telemetry state beside the last reading in the list."""

    def has_change_equipment_status_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(choices.CHANGE_EQUIPMENT_STATUS)

    @admin.action(description="Hand back to the simulator", permissions=["change_equipment_status"])
    def hand_back_to_simulator(self, request, queryset) -> None:
        changed = services.hand_back_to_simulator(equipment=queryset, actor=request.user)
        self.message_user(request, f"{changed} handed back to the simulator.", messages.SUCCESS)


@admin.display(description="telemetry")
def telemetry(obj) -> str:
    """simulated, live or stale (fleet.liveness), stale ones with the time they went silent."""
    row = selectors.with_telemetry_state([{"live": obj.live, "last_reading_at": obj.last_reading_at}])[0]
    if row["telemetry"] != "stale":
        return row["telemetry"]
    return status_badge("broken_down", f"stale since {timezone.localtime(row['stale_since']):%d %b %H:%M:%S}")


class EquipmentAdmin(HandBackAdminMixin, EquipmentPageMixin, StatusBadgeMixin, admin.ModelAdmin):
    """Trucks, loaders and crushers: send to maintenance / return to service, hand back to the simulator."""

    actions = ["send_to_maintenance", "return_to_service", "hand_back_to_simulator"]
    list_select_related = ["site"]
    search_fields = ["name", "model"]

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
    list_display = with_measures(
        ["name", "site", "pit", "material", "status_badge", "grade_pct", "remaining_t", "shift_target_t"]
    )
    list_filter = ["site", "status", "material", "pit"]
    search_fields = ["name", "pit"]
    list_select_related = ["site"]


@admin.register(Loader)
class LoaderAdmin(EquipmentAdmin):
    list_display = with_measures(
        ["name", "site", "model", "zone", "status_badge", "dig_rate_tph", "bucket_t", "health", "live"]
    )
    list_filter = ["site", "status", "zone", "model", "live"]
    list_select_related = ["site", "zone"]


@admin.register(HaulRoad)
class HaulRoadAdmin(admin.ModelAdmin):
    list_display = with_measures(
        ["name", "site", "from_point", "to_point", "length_m", "grade_pct", "speed_limit_loaded_kmh"]
    )
    list_filter = ["site"]
    search_fields = ["name", "from_point", "to_point"]
    list_select_related = ["site"]


@admin.register(WasteDump)
class WasteDumpAdmin(admin.ModelAdmin):
    list_display = with_measures(["name", "site", "capacity_t", "dumped_t", "tip_points", "live"])
    list_filter = ["site"]
    search_fields = ["name"]
    list_select_related = ["site"]


@admin.register(Truck)
class TruckAdmin(EquipmentAdmin):
    # What a dispatcher scans, fitting a 1280-pixel screen beside the filters: the site and model are filters.
    list_display = with_measures(
        [
            "name",
            "status_badge",
            "payload_t",
            "speed_kmh",
            "fuel_l",
            "health",
            "assigned_loader",
            last_reading,
            telemetry,
        ]
    )
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
    for name in partitions.partitions(model._meta.db_table):
        end = partitions.partition_end(name)
        if end is None:
            continue
        last = end - dt.timedelta(days=1)
        first = last if partitions.is_daily_partition(name) else last.replace(day=1)
        days.update(day for day in partitions.days_between(first, last) if day <= today)
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
    return histories.history(_kind_of(model)).equipment


def reading_admin(model: type[models.Model]) -> type[HistoryAdmin]:
    """The admin class for a reading table: time, equipment, status and every sensor."""
    sensors = histories.history(_kind_of(model)).sensors
    return type(
        f"{model.__name__}Admin",
        (HistoryAdmin,),
        {
            "list_display": with_measures(["ts", "equipment", "status_badge", *sensors]),
            "list_filter": ["equipment__site", "status"],
            "date_hierarchy": "ts",
            "ordering": ["-ts"],
        },
    )


def rollup_admin(model: type[models.Model]) -> type[HistoryAdmin]:
    """The admin class for a rollup table: minute, equipment, sample count and the averages."""
    sensors = histories.history(_kind_of(model)).sensors
    return type(
        f"{model.__name__}Admin",
        (HistoryAdmin,),
        {
            "list_display": with_measures(
                ["bucket", "equipment", "samples", *(f"{name}_avg" for name in sensors)]
            ),
            "date_hierarchy": "bucket",
            "ordering": ["-bucket"],
        },
    )


admin.site.register(TruckReading, reading_admin(TruckReading))
admin.site.register(TruckRollup, rollup_admin(TruckRollup))
