"""Writes of alerts: raise (deduplicated per equipment and kind), acknowledge, shelve, clear.

Rule-based alarms are raised and cleared by analytics.alerts.alarms from the rule engine's transitions.
"""

from __future__ import annotations

import datetime as dt
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
    # Active alarms and those returned to normal unacknowledged (ISA-18.2: both wait for an acknowledgement).
    pending = Alert.objects.filter(pk__in=ids, acknowledged_at__isnull=True)
    audit.record(actor=user, action=AuditAction.ACKNOWLEDGE_ALERT, targets=list(pending))
    count = pending.update(acknowledged_at=timezone.now(), acknowledged_by=user)
    _publish(ids)
    return count


#: The longest an alarm may be shelved: shelving is a short-term measure (ISA-18.2), not a way to disable it.
MAX_SHELVE = dt.timedelta(hours=24)


@transaction.atomic
def shelve_alerts(
    *, alerts: Iterable[Alert], user: AbstractBaseUser, duration: dt.timedelta, reason: str
) -> int:
    """Hide these open alarms from the operator for `duration` (raises of the same rule on the same unit stay
    shelved meanwhile); a zero duration unshelves them. Audited with the reason."""
    if not dt.timedelta(0) <= duration <= MAX_SHELVE:
        raise ValueError(f"shelve: duration must be between 0 and {MAX_SHELVE}, got {duration}")
    reason = reason.strip()
    if duration and not reason:
        raise ValueError("shelve: a reason is required")
    ids = [alert.pk for alert in alerts]
    open_alerts = Alert.objects.filter(pk__in=ids, cleared_at__isnull=True)
    until = timezone.now() + duration if duration else None
    audit.record(
        actor=user, action=AuditAction.SHELVE_ALERT, targets=list(open_alerts),
        until=until.isoformat() if until else None, reason=reason,
    )  # fmt: skip
    count = open_alerts.update(shelved_until=until, shelved_reason=reason, shelved_by=user if until else None)
    _publish(ids)
    return count


def _publish(ids: list[int]) -> None:
    from analytics.alerts.selectors import alert_items
    from smartmine.platform import live

    by_site: dict[int, list[int]] = {}
    for pk, site_id in Alert.objects.filter(pk__in=ids).values_list("pk", "site_id"):
        by_site.setdefault(site_id, []).append(pk)
    for site_id, site_ids in by_site.items():
        live.publish_on_commit(site_id, {"alert": alert_items(ids=site_ids)})


@transaction.atomic
def clear_alerts(*, alerts: Iterable[Alert], user: AbstractBaseUser) -> int:
    """Close these alerts (acknowledging any not yet acknowledged); the next occurrence opens a new alert."""
    ids = [alert.pk for alert in alerts]
    now = timezone.now()
    open_alerts = Alert.objects.filter(pk__in=ids, cleared_at__isnull=True)
    audit.record(actor=user, action=AuditAction.CLEAR_ALERT, targets=list(open_alerts))
    open_alerts.filter(acknowledged_at__isnull=True).update(acknowledged_at=now, acknowledged_by=user)
    count = open_alerts.update(cleared_at=now, cleared_by=user)
    _publish(ids)
    return count
