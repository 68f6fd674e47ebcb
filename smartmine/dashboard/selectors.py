"""Reads for the dashboard's map: the parts of a site that do not move between ticks."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404

from fleet.models import HaulRoad, MiningZone, Site, WasteDump

ROAD_FIELDS = (
    "id", "name", "start_node", "end_node", "length_m", "grade_pct", "polyline", "speed_limit_loaded_kmh",
    "speed_limit_empty_kmh",
)  # fmt: skip


def site_layout(site_id: int) -> dict[str, Any]:
    """A site's outline for drawing: zones, haul roads, waste dumps and fuel bays, in four small queries.

    Moving equipment (trucks, loaders) and plant state (crushers, stockpiles) come from the live snapshot;
    this is what the map draws underneath them. Fuel bays exist only in the engine state, so only that key
    of the (large) `sim_state` JSON is read.
    """
    site = get_object_or_404(
        Site.objects.values("id", "name", "slug", "centre_lat", "centre_lon", "sim_state__fuel_bays"),
        pk=site_id,
    )
    zones = MiningZone.objects.filter(site_id=site_id).order_by("name")
    roads = HaulRoad.objects.filter(site_id=site_id).order_by("name")
    dumps = WasteDump.objects.filter(site_id=site_id).order_by("name")
    return {
        "site": {key: site[key] for key in ("id", "name", "slug", "centre_lat", "centre_lon")},
        "zones": list(
            zones.values(
                "id", "name", "pit", "material", "status", "grade_pct", "remaining_t", "lat", "lon", "polygon"
            )
        ),
        "haul_roads": list(roads.values(*ROAD_FIELDS)),
        "waste_dumps": list(dumps.values("id", "name", "lat", "lon", "capacity_t", "dumped_t")),
        "fuel_bays": [
            {"id": bay.get("id"), "name": bay.get("name", ""), "lat": bay["lat"], "lon": bay["lon"]}
            for bay in site["sim_state__fuel_bays"] or []
            if "lat" in bay and "lon" in bay
        ],
    }
