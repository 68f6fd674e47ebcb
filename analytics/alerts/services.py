"""Writes of alerts: raise (deduplicated per equipment and kind), acknowledge, clear."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from analytics.alerts.models import Alert, AlertSeverity
from smartmine.platform import audit
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
