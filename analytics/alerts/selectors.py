"""Reads of alerts: the rows REST lists and the alerts stream sends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import F, QuerySet
from django.utils import timezone

from analytics.alerts.models import Alert
from analytics.alerts.performance import AlarmRecord, Performance, performance
from analytics.payloads import alert_item


def named_alerts() -> QuerySet[Alert]:
    """Alerts newest first, with what their items show by name: equipment kind and who acknowledged and
    cleared them."""
    return (
        Alert.objects.annotate(
            equipment_kind=F("equipment_type__model"),
            acknowledged_by_name=F("acknowledged_by__username"),
            cleared_by_name=F("cleared_by__username"),
        )
        .select_related("rule")
        .order_by("-last_raised_at", "-id")
    )


def alert_items(*, ids: list[int] | None = None, site_id: int | None = None) -> list[dict[str, Any]]:
    """Alerts in the REST item shape: the given ones, or the site's open ones (the alerts stream snapshot)."""
    alerts = named_alerts()
    alerts = alerts.filter(pk__in=ids) if ids is not None else alerts.filter(site_id=site_id, cleared_at=None)
    return [alert_item(alert) for alert in alerts]


def alarm_performance(
    *, site: int, hours: float = 24.0, operators: int = 1, end: dt.datetime | None = None
) -> Performance:
    """ISA-18.2 / EEMUA 191 figures of a site's alarms raised in the last `hours` (up to `end`, default
    now); standing alarms are those still active after 24 h, whenever raised."""
    end = end or timezone.now()
    start = end - dt.timedelta(hours=hours)
    rows = (
        Alert.objects.filter(site_id=site)
        .filter(models.Q(raised_at__gte=start, raised_at__lt=end) | models.Q(cleared_at__isnull=True))
        .values_list(
            "kind", "equipment_type__model", "equipment_id", "raised_at", "cleared_at", "annunciated"
        )
    )
    records = [
        AlarmRecord(key=f"{kind} {unit_kind} {unit_id}", raised_s=raised.timestamp(),
                    cleared_s=cleared.timestamp() if cleared else None, annunciated=annunciated)
        for kind, unit_kind, unit_id, raised, cleared, annunciated in rows
    ]  # fmt: skip
    return performance(records, start_s=start.timestamp(), end_s=end.timestamp(), operators=operators)
