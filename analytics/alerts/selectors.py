"""Reads of alerts: the rows REST lists and the alerts stream sends."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from analytics.alerts.models import Alert
from analytics.payloads import alert_item


def named_alerts() -> QuerySet[Alert]:
    """Alerts newest first, with what their items show by name: equipment kind and who acknowledged and
    cleared them."""
    return Alert.objects.annotate(
        equipment_kind=F("equipment_type__model"),
        acknowledged_by_name=F("acknowledged_by__username"),
        cleared_by_name=F("cleared_by__username"),
    ).order_by("-last_raised_at", "-id")


def alert_items(*, ids: list[int] | None = None, site_id: int | None = None) -> list[dict[str, Any]]:
    """Alerts in the REST item shape: the given ones, or the site's open ones (the alerts stream snapshot)."""
    alerts = named_alerts()
    alerts = alerts.filter(pk__in=ids) if ids is not None else alerts.filter(site_id=site_id, cleared_at=None)
    return [alert_item(alert) for alert in alerts]
