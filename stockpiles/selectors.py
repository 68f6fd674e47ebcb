"""Reads of stockpile state shaped for screens and endpoints."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F

from fleet.selectors import with_telemetry_state
from stockpiles.models import Stockpile

#: Fields every stockpile row carries (the same in `/api/stockpiles`, `stockpile_update` and snapshots).
STOCKPILE_ROW_FIELDS = (
    "id", "name", "site_id", "status", "live", "lat", "lon", "capacity_t", "level_t", "utilisation_pct",
    "fill_rate_tph", "discharge_rate_tph", "reclaim_rate_tph", "grade_pct", "low_pct", "high_pct",
    "last_reading_at",
)  # fmt: skip


def stockpile_rows(*, site_id: int | None = None, ids: Iterable[int] | None = None) -> list[dict]:
    """Stockpiles as dicts with their material's name and kind."""
    queryset = Stockpile.objects.order_by("site_id", "name")
    if site_id is not None:
        queryset = queryset.filter(site_id=site_id)
    if ids is not None:
        queryset = queryset.filter(id__in=list(ids))
    rows = queryset.annotate(material_name=F("material__name"), material_kind=F("material__kind")).values(
        *STOCKPILE_ROW_FIELDS, "material_name", "material_kind"
    )
    return with_telemetry_state({"kind": "stockpile", **row} for row in rows)
