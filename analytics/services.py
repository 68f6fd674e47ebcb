"""Writes of the analytics app: alerts (raise deduplicated, acknowledge, clear), recommendations (upsert
deduplicated, accept, dismiss, expire) and detected anomalies (stored, alerted and broadcast after commit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from analytics.models import (
    Alert,
    AlertSeverity,
    Anomaly,
    ModelVersion,
    Recommendation,
    RecommendationPriority,
    RecommendationStatus,
)
from fleet.models import Site
from smartmine.platform import audit, live
from smartmine.platform.models import AuditAction


@transaction.atomic
def raise_alert(
    *, equipment: models.Model, kind: str, message: str, severity: str = AlertSeverity.WARNING
) -> tuple[Alert, bool]:
    """Open an alert on `equipment`, or update the open one of the same kind; returns (alert, created).

    A repeat refreshes severity, message and last_raised_at and counts the repeat; it does not re-open
    the acknowledgement, so an operator who has seen it is not asked again for the same problem.
    """
    now = timezone.now()
    equipment_type = ContentType.objects.get_for_model(equipment)
    open_alerts = Alert.objects.filter(
        equipment_type=equipment_type, equipment_id=equipment.pk, kind=kind, cleared_at__isnull=True
    )
    updated = open_alerts.update(
        severity=severity, message=message, last_raised_at=now, repeat_count=models.F("repeat_count") + 1
    )
    if updated:
        return open_alerts.get(), False
    try:
        with transaction.atomic():  # the partial unique index settles a race between two raisers
            alert = Alert.objects.create(
                site_id=equipment.site_id,
                equipment_type=equipment_type,
                equipment_id=equipment.pk,
                equipment_name=str(equipment),
                kind=kind,
                severity=severity,
                message=message,
                raised_at=now,
                last_raised_at=now,
            )
    except IntegrityError:
        return raise_alert(equipment=equipment, kind=kind, message=message, severity=severity)
    return alert, True


@transaction.atomic
def acknowledge_alerts(*, alerts: Iterable[Alert], user: AbstractBaseUser) -> int:
    """Record that `user` has seen these open alerts; alerts already acknowledged keep their first record."""
    ids = [alert.pk for alert in alerts]
    pending = Alert.objects.filter(pk__in=ids, acknowledged_at__isnull=True, cleared_at__isnull=True)
    audit.record(actor=user, action=AuditAction.ACKNOWLEDGE_ALERT, targets=list(pending))
    return pending.update(acknowledged_at=timezone.now(), acknowledged_by=user)


@transaction.atomic
def clear_alerts(*, alerts: Iterable[Alert], user: AbstractBaseUser) -> int:
    """Close these alerts (acknowledging any not yet acknowledged); the next occurrence opens a new alert."""
    ids = [alert.pk for alert in alerts]
    now = timezone.now()
    open_alerts = Alert.objects.filter(pk__in=ids, cleared_at__isnull=True)
    audit.record(actor=user, action=AuditAction.CLEAR_ALERT, targets=list(open_alerts))
    open_alerts.filter(acknowledged_at__isnull=True).update(acknowledged_at=now, acknowledged_by=user)
    return open_alerts.update(cleared_at=now, cleared_by=user)


# --- Recommendations

#: A recommendation not raised again within this long expires (the engine re-raises live ones each refresh).
RECOMMENDATION_TTL = dt.timedelta(hours=2)
#: After an operator accepts or dismisses one, the same advice on the same subject is not raised again for
#: this long: the operator has answered it, and asking every minute would be noise.
DECISION_QUIET = dt.timedelta(hours=4)
_PRIORITY_RANK = {p: i for i, p in enumerate(RecommendationPriority.values)}


def recommendation_item(rec: Recommendation) -> dict[str, Any]:
    """The API item shape (analytics.api.serializers.RecommendationSerializer), also what is broadcast."""
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


def _publish_recommendations(recs: list[Recommendation]) -> None:
    by_site: dict[int, list[dict]] = {}
    for rec in recs:
        by_site.setdefault(rec.site_id, []).append(recommendation_item(rec))
    for site_id, items in by_site.items():
        live.publish_on_commit(site_id, {"ai_recommendation": items})


@transaction.atomic
def upsert_recommendation(
    *,
    site: Site,
    kind: str,
    subject: str,
    title: str,
    reasoning: str,
    expected_impact: str,
    priority: str = RecommendationPriority.MEDIUM,
    impact_t: float | None = None,
    impact_h: float | None = None,
    data: dict | None = None,
    ttl: dt.timedelta = RECOMMENDATION_TTL,
) -> tuple[Recommendation | None, bool]:
    """Raise advice about `subject` (e.g. "truck:12", "site"); returns (recommendation, created).

    An open (new) recommendation of the same site, kind and subject is updated in place and its expiry
    pushed back, never duplicated. Advice on a subject an operator decided within DECISION_QUIET is not
    raised again: returns (None, False). New ones, and open ones whose priority or title changed, are
    broadcast as `ai_recommendation` after commit.
    """
    now = timezone.now()
    fields = {
        "priority": priority,
        "title": title[:200],
        "reasoning": reasoning,
        "expected_impact": expected_impact[:200],
        "impact_t": impact_t,
        "impact_h": impact_h,
        "data": data or {},
        "expires_at": now + ttl,
    }
    current = (
        Recommendation.objects.select_for_update()
        .filter(site=site, kind=kind, subject=subject, status=RecommendationStatus.NEW)
        .first()
    )
    if current is not None:
        changed = (current.priority, current.title) != (priority, fields["title"])
        for name, value in fields.items():
            setattr(current, name, value)
        current.save(update_fields=[*fields, "updated_at"])
        if changed:
            _publish_recommendations([current])
        return current, False
    decided = Recommendation.objects.filter(
        site=site,
        kind=kind,
        subject=subject,
        status__in=[RecommendationStatus.ACCEPTED, RecommendationStatus.DISMISSED],
        decided_at__gte=now - DECISION_QUIET,
    )
    if decided.exists():
        return None, False
    try:
        with transaction.atomic():  # the partial unique index settles a race between two raisers
            rec = Recommendation.objects.create(site=site, kind=kind, subject=subject, **fields)
    except IntegrityError:
        return upsert_recommendation(
            site=site, kind=kind, subject=subject, title=title, reasoning=reasoning,
            expected_impact=expected_impact, priority=priority, impact_t=impact_t, impact_h=impact_h,
            data=data, ttl=ttl,
        )  # fmt: skip
    _publish_recommendations([rec])
    return rec, True


@transaction.atomic
def decide_recommendation(*, recommendation: Recommendation, user: AbstractBaseUser, accept: bool) -> bool:
    """Accept or dismiss an open recommendation; False when it was already decided or expired."""
    status = RecommendationStatus.ACCEPTED if accept else RecommendationStatus.DISMISSED
    rec = Recommendation.objects.select_for_update().get(pk=recommendation.pk)
    if rec.status != RecommendationStatus.NEW:
        return False
    rec.status, rec.decided_at, rec.decided_by = status, timezone.now(), user
    rec.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
    audit.record(actor=user, action=AuditAction.RECOMMENDATION, targets=[rec], decision=str(status))
    _publish_recommendations([rec])
    return True


@transaction.atomic
def expire_recommendations(
    *, site: Site, kinds: Iterable[str] = (), keep: Iterable[tuple[str, str]] = ()
) -> int:
    """Expire open recommendations past their time, and those of `kinds` whose (kind, subject) is not in
    `keep` (the engine no longer sees their reason). Returns how many expired."""
    now = timezone.now()
    keep = set(keep)
    open_recs = Recommendation.objects.select_for_update().filter(site=site, status=RecommendationStatus.NEW)
    expired = [
        rec
        for rec in open_recs.order_by("pk")
        if rec.expires_at <= now or (rec.kind in set(kinds) and (rec.kind, rec.subject) not in keep)
    ]
    Recommendation.objects.filter(pk__in=[rec.pk for rec in expired]).update(
        status=RecommendationStatus.EXPIRED, updated_at=now
    )
    for rec in expired:
        rec.status = RecommendationStatus.EXPIRED
    _publish_recommendations(expired)
    return len(expired)


# --- Anomalies

#: Detections of one unit this close in time are one anomaly (the core merges flags 3 min apart the same way).
ANOMALY_MERGE_GAP = dt.timedelta(minutes=3)
#: A score this many times the alarm level makes the alert critical.
CRITICAL_SCORE = 3.0


def anomaly_item(anomaly: Anomaly) -> dict[str, Any]:
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


@transaction.atomic
def record_anomalies(
    *, site: Site, detections: list[dict[str, Any]], models: dict[str, ModelVersion]
) -> list[Anomaly]:
    """Store detected anomalies, each merged into a stored one of the same unit it overlaps; raise an alert
    per unit (deduplicated by raise_alert) and broadcast `anomaly` and `alert` after commit.

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
        severity = AlertSeverity.CRITICAL if stored.score >= CRITICAL_SCORE else AlertSeverity.WARNING
        alert, _ = raise_alert(
            equipment=unit,
            kind="sensor_anomaly",
            severity=severity,
            message=f"Unusual {', '.join(stored.sensors)} since {stored.started_at:%H:%M} "
            f"(score {stored.score:.1f}, checks: {', '.join(stored.checks)})",
        )
        stored.alert = alert
        stored.save()
        alerts[alert.pk] = alert
        changed.append(stored)
    if changed:
        from analytics.ml_selectors import alert_items

        live.publish_on_commit(
            site.pk,
            {"anomaly": [anomaly_item(a) for a in changed], "alert": alert_items(ids=list(alerts))},
        )
    return changed
