"""Control-room pages for crushers and their history."""

from django.contrib import admin

from fleet.admin import (
    EquipmentAdmin,
    last_reading,
    latest_readings_inline,
    reading_admin,
    rollup_admin,
    telemetry,
    with_measures,
)
from plants.models import Crusher, CrusherReading, CrusherRollup


@admin.register(Crusher)
class CrusherAdmin(EquipmentAdmin):
    list_display = with_measures(
        [
            "name",
            "site",
            "crusher_type",
            "status_badge",
            "throughput_tph",
            "rated_capacity_tph",
            "feed_bin_t",
            "liner_wear_pct",
            "health",
            "stockpile",
            last_reading,
            telemetry,
        ]
    )
    list_filter = ["site", "status", "crusher_type", "model", "live"]
    list_select_related = ["site", "stockpile"]
    inlines = [latest_readings_inline(CrusherReading)]


admin.site.register(CrusherReading, reading_admin(CrusherReading))
admin.site.register(CrusherRollup, rollup_admin(CrusherRollup))
