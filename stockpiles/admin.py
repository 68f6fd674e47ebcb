"""Control-room pages for materials, stockpiles and their history."""

from django.contrib import admin

from fleet.admin import (
    EquipmentPageMixin,
    HandBackAdminMixin,
    StatusBadgeMixin,
    last_reading,
    latest_readings_inline,
    reading_admin,
    rollup_admin,
    telemetry,
    with_measures,
)
from stockpiles.models import Material, Stockpile, StockpileReading, StockpileRollup


@admin.register(Material)
class MaterialAdmin(admin.ModelAdmin):
    list_display = with_measures(["name", "site", "kind", "grade_pct", "density_t_m3"])
    list_filter = ["site", "kind"]
    search_fields = ["name"]
    list_select_related = ["site"]


@admin.register(Stockpile)
class StockpileAdmin(HandBackAdminMixin, EquipmentPageMixin, StatusBadgeMixin, admin.ModelAdmin):
    actions = ["hand_back_to_simulator"]
    list_display = with_measures(
        [
            "name",
            "site",
            "material",
            "status_badge",
            "level_t",
            "capacity_t",
            "utilisation_pct",
            "fill_rate_tph",
            "discharge_rate_tph",
            "reclaim_rate_tph",
            last_reading,
            telemetry,
        ]
    )
    list_filter = ["site", "status", "material", "live"]
    list_select_related = ["site", "material"]
    search_fields = ["name"]
    inlines = [latest_readings_inline(StockpileReading)]


admin.site.register(StockpileReading, reading_admin(StockpileReading))
admin.site.register(StockpileRollup, rollup_admin(StockpileRollup))
