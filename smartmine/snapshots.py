"""What the live consumer reads from the database: sites, equipment lookups and snapshots of current state.

The rows are the same selectors the REST lists and the tick's updates use, so a snapshot and the deltas
that follow it have one shape.
"""

from __future__ import annotations

from typing import Any

from fleet import selectors as fleet_selectors
from fleet.models import Loader, MiningZone, Site, Truck
from plants import selectors as plant_selectors
from plants.models import Crusher
from smartmine import live
from stockpiles import selectors as stockpile_selectors
from stockpiles.models import Stockpile

EQUIPMENT_MODELS = {"truck": Truck, "loader": Loader, "crusher": Crusher, "stockpile": Stockpile}


def default_site_id() -> int | None:
    """The site marked default, else the first one; None when there is no site at all."""
    site = Site.objects.order_by("-is_default", "pk").values_list("pk", flat=True).first()
    return site


def site_exists(site_id: int) -> bool:
    return Site.objects.filter(pk=site_id).exists()


def zone_exists(site_id: int, zone_id: int) -> bool:
    return MiningZone.objects.filter(site_id=site_id, pk=zone_id).exists()


def equipment_site(kind: str, equipment_id: int) -> int | None:
    model = EQUIPMENT_MODELS.get(kind)
    if model is None:
        return None
    return model.objects.filter(pk=equipment_id).values_list("site_id", flat=True).first()


def stream_rows(stream: str, site_id: int) -> list[dict[str, Any]]:
    """Current state of one stream of one site, as the items its updates carry."""
    if stream == "trucks":
        return fleet_selectors.truck_rows(site_id=site_id) + fleet_selectors.loader_rows(site_id=site_id)
    if stream == "crushers":
        return plant_selectors.crusher_rows(site_id=site_id)
    if stream == "stockpiles":
        return stockpile_selectors.stockpile_rows(site_id=site_id)
    return STREAM_SNAPSHOTS[stream](site_id) if stream in STREAM_SNAPSHOTS else []


#: Snapshots of the analytics streams (ai, alerts, kpis), registered by the analytics app when it has them.
STREAM_SNAPSHOTS: dict[str, Any] = {}


def build(subscriptions: list[live.Subscription]) -> list[dict[str, Any]]:
    """One entry per subscription: its group, the message type of its updates and its items now."""
    cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
    entries = []
    for subscription in subscriptions:
        key = (subscription.stream, subscription.site_id)
        if key not in cache:
            cache[key] = stream_rows(*key)
        entries.append(
            {
                "group": subscription.name,
                "site": subscription.site_id,
                "type": live.STREAM_TYPES[subscription.stream],
                "items": [item for item in cache[key] if subscription.matches(item)],
            }
        )
    return entries
