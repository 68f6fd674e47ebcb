"""Writes of the ML side: detected anomalies, stored, alerted and broadcast after commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from analytics.alerts.models import Alert
from analytics.alerts.selectors import alert_items
from analytics.payloads import anomaly_item
from analytics.scoring.models import Anomaly, ModelVersion
from fleet.models import Site
from smartmine.platform import live

#: Detections of one unit this close in time are one anomaly (the core merges flags 3 min apart the same way).
ANOMALY_MERGE_GAP = dt.timedelta(minutes=3)


@transaction.atomic
def record_anomalies(
    *, site: Site, detections: list[dict[str, Any]], models: dict[str, ModelVersion]
) -> list[Anomaly]:
    """Store detected anomalies, each merged into a stored one of the same unit it overlaps, linked to the
    unit's open anomaly alarm (raised by the alarm rules: alarms.evaluate_scores, called first by the refresh)
    and broadcast `anomaly` (with that `alert`) after commit.

    `detections` are dicts with equipment (a model instance), start, end, score, sensors, checks; `models`
    maps equipment kind to the anomaly model version that found them. Returns the anomalies new or grown.
    """
    changed: list[Anomaly] = []
    alerts: dict[int, Alert] = {}
    for found in sorted(detections, key=lambda d: (d["equipment"]._meta.model_name, d["equipment"].pk)):
        unit = found["equipment"]
        kind = unit._meta.model_name
        stored = (
            Anomaly.objects.select_for_update()
            .filter(
                site=site,
                equipment_kind=kind,
                equipment_id=unit.pk,
                started_at__lte=found["end"] + ANOMALY_MERGE_GAP,
                ended_at__gte=found["start"] - ANOMALY_MERGE_GAP,
            )
            .order_by("started_at")
            .first()
        )
        if stored is None:
            stored = Anomaly(
                site=site, equipment_kind=kind, equipment_id=unit.pk, equipment_name=str(unit),
                model=models.get(kind), started_at=found["start"], ended_at=found["end"],
                score=found["score"], sensors=sorted(found["sensors"]), checks=sorted(found["checks"]),
            )  # fmt: skip
        else:
            grown = (
                found["end"] > stored.ended_at
                or found["start"] < stored.started_at
                or not set(found["sensors"]) <= set(stored.sensors)
            )
            if not grown:
                continue  # seen at an earlier refresh: no new alert, no new broadcast
            stored.started_at = min(stored.started_at, found["start"])
            stored.ended_at = max(stored.ended_at, found["end"])
            stored.score = max(stored.score, found["score"])
            stored.sensors = sorted(set(stored.sensors) | set(found["sensors"]))
            stored.checks = sorted(set(stored.checks) | set(found["checks"]))
        alert = (
            Alert.objects.filter(
                site=site, cleared_at__isnull=True, rule__kind="anomaly",
                equipment_type=ContentType.objects.get_for_model(unit), equipment_id=unit.pk,
            )
            .order_by("-raised_at")
            .first()
        )  # fmt: skip
        stored.alert = alert
        stored.save()
        if alert is not None:
            alerts[alert.pk] = alert
        changed.append(stored)
    if changed:
        live.publish_on_commit(
            site.pk,
            {"anomaly": [anomaly_item(a) for a in changed], "alert": alert_items(ids=list(alerts))}
            if alerts
            else {"anomaly": [anomaly_item(a) for a in changed]},
        )
    return changed
