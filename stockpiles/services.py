"""Writes to stockpiles. API views and admin actions call these; none write directly."""

from __future__ import annotations

from django.db import transaction

from fleet.sim.schema import SENSORS
from smartmine.platform import audit
from smartmine.platform.models import AuditAction
from stockpiles.models import Stockpile

#: The highest reclaim set point accepted: the fastest discharge a stockpile reading may report.
MAX_RECLAIM_RATE_TPH = SENSORS["stockpile"]["discharge_rate_tph"].maximum


@transaction.atomic
def set_reclaim_rate(*, stockpile: Stockpile, reclaim_rate_tph: float, actor=None) -> Stockpile:
    """Set the rate operators reclaim the pile at; the simulator follows it from its next tick."""
    if not 0 <= reclaim_rate_tph <= MAX_RECLAIM_RATE_TPH:
        raise ValueError(f"reclaim rate must be between 0 and {MAX_RECLAIM_RATE_TPH:g} t/h")
    audit.record(
        actor=actor,
        action=AuditAction.RECLAIM_RATE,
        targets=[stockpile],
        frm=stockpile.reclaim_rate_tph,
        to=reclaim_rate_tph,
    )
    Stockpile.objects.filter(pk=stockpile.pk).update(reclaim_rate_tph=reclaim_rate_tph)
    stockpile.reclaim_rate_tph = reclaim_rate_tph
    return stockpile
