"""Recording operator and engineer actions in the append-only audit log (smartmine.models.AuditEntry)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from smartmine.platform.models import AuditAction, AuditEntry


def describe(obj: models.Model) -> str:
    """'truck HT-03 (#12)': readable after the object is gone."""
    return f"{obj._meta.verbose_name} {obj} (#{obj.pk})"[:200]


def record(
    *, actor: Any, action: AuditAction, targets: Iterable[models.Model | str], **detail: Any
) -> list[AuditEntry]:
    """One entry per target, in the caller's transaction (an action that rolls back leaves no entry)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    name = user.get_username() if user is not None else (actor if isinstance(actor, str) else "system")
    entries = [
        AuditEntry(
            actor=user,
            actor_name=name,
            action=action,
            target=target if isinstance(target, str) else describe(target),
            detail=detail,
        )
        for target in targets
    ]
    return AuditEntry.objects.bulk_create(entries)
