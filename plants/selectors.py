"""Reads of crusher state shaped for screens and endpoints."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, FloatField, Value
from django.db.models.functions import Coalesce, Greatest

from fleet.selectors import with_telemetry_state
from plants.models import Crusher

#: Fields every crusher row carries (the same in `/api/crushers`, `crusher_update` and snapshots).
CRUSHER_ROW_FIELDS = (
    "id", "name", "site_id", "model", "crusher_type", "status", "live", "lat", "lon", "rated_capacity_tph",
    "throughput_tph", "feed_bin_t", "feed_bin_capacity_t", "efficiency_pct", "temperature_c",
    "vibration_mm_s", "power_kw", "liner_wear_pct", "health", "stockpile_id", "last_reading_at",
)  # fmt: skip


def crusher_rows(*, site_id: int | None = None, ids: Iterable[int] | None = None) -> list[dict]:
    """Crushers as dicts with utilisation: throughput as a share of rated capacity, in SQL."""
    queryset = Crusher.objects.order_by("site_id", "name")
    if site_id is not None:
        queryset = queryset.filter(site_id=site_id)
    if ids is not None:
        queryset = queryset.filter(id__in=list(ids))
    utilisation = Coalesce(
        100.0 * F("throughput_tph") / Greatest(F("rated_capacity_tph"), Value(1e-9)),
        Value(0.0),
        output_field=FloatField(),
    )
    rows = queryset.annotate(utilisation_pct=utilisation).values(*CRUSHER_ROW_FIELDS, "utilisation_pct")
    return with_telemetry_state({"kind": "crusher", **row} for row in rows)
