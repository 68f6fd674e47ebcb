"""Item shapes that REST answers and the live streams send alike (alerts, recommendations, anomalies): one
definition per item, so selectors and services build them without importing each other or the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from analytics.alerts.models import Alert
from analytics.recommendations.models import Recommendation
from analytics.scoring.models import Anomaly


def _rest_time(value: dt.datetime | None) -> str | None:
    """ISO 8601 as REST renders it (DRF's DateTimeField: the current time zone, "Z" for UTC)."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def alert_item(alert: Alert) -> dict[str, Any]:
    """An alert as GET /api/alerts renders it (AlertSerializer), from a row of
    analytics.alerts.selectors.named_alerts (equipment kind and usernames annotated)."""
    return {
        "id": alert.pk,
        "site_id": alert.site_id,
        "equipment_kind": alert.equipment_kind,
        "equipment_id": alert.equipment_id,
        "equipment_name": alert.equipment_name,
        "kind": alert.kind,
        "severity": str(alert.severity),
        "message": alert.message,
        "raised_at": _rest_time(alert.raised_at),
        "last_raised_at": _rest_time(alert.last_raised_at),
        "repeat_count": alert.repeat_count,
        "is_open": alert.is_open,
        "acknowledged_at": _rest_time(alert.acknowledged_at),
        "acknowledged_by": alert.acknowledged_by_name,
        "cleared_at": _rest_time(alert.cleared_at),
        "cleared_by": alert.cleared_by_name,
        "state": str(alert.state),
        "rule": alert.rule.code if alert.rule_id else None,
        "last_value": alert.last_value,
        "shelved_until": _rest_time(alert.shelved_until),
        "shelved_reason": alert.shelved_reason,
    }


def recommendation_item(rec: Recommendation) -> dict[str, Any]:
    """A recommendation as the API lists it (RecommendationSerializer) and the ai stream sends it."""
    return {
        "id": rec.pk,
        "kind": rec.kind,
        "priority": rec.priority,
        "title": rec.title,
        "reasoning": rec.reasoning,
        "expected_impact": rec.expected_impact,
        "status": rec.status,
        "created_at": rec.created_at,
    }


def anomaly_item(anomaly: Anomaly) -> dict[str, Any]:
    """A detected anomaly as the ai stream sends it."""
    return {
        "id": anomaly.pk,
        "equipment_kind": anomaly.equipment_kind,
        "equipment_id": anomaly.equipment_id,
        "equipment_name": anomaly.equipment_name,
        "started_at": anomaly.started_at,
        "ended_at": anomaly.ended_at,
        "score": round(anomaly.score, 2),
        "sensors": anomaly.sensors,
        "checks": anomaly.checks,
        "alert_id": anomaly.alert_id,
    }
