"""What the live consumer reads from the database: sites, zones and snapshots of current state.

The rows come from the streams' registered builders (smartmine.platform.live.register_stream), the same
selectors the REST lists and the tick's updates use, so a snapshot and the deltas that follow it have one
shape.
"""

from __future__ import annotations

from typing import Any

from fleet.models import MiningZone, Site
from smartmine.platform import live


def default_site_id() -> int | None:
    """The site marked default, else the first one; None when there is no site at all."""
    return Site.objects.order_by("-is_default", "pk").values_list("pk", flat=True).first()


def site_exists(site_id: int) -> bool:
    return Site.objects.filter(pk=site_id).exists()


def zone_exists(site_id: int, zone_id: int) -> bool:
    return MiningZone.objects.filter(site_id=site_id, pk=zone_id).exists()


def build(subscriptions: list[live.Subscription]) -> list[dict[str, Any]]:
    """One entry per subscription: its group, the message type of its updates and its items now."""
    cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
    entries = []
    for subscription in subscriptions:
        key = (subscription.stream, subscription.site_id)
        if key not in cache:
            cache[key] = live.stream_rows(*key)
        entries.append(
            {
                "group": subscription.name,
                "site": subscription.site_id,
                "type": live.STREAM_TYPES[subscription.stream],
                "items": [item for item in cache[key] if subscription.matches(item)],
            }
        )
    return entries
