"""Writes to stockpiles and materials: operator set points, and seeding a site's piles. API views, admin
actions and fleet's seeding (through the registered kind, stockpiles.apps) call these; none write directly."""

from __future__ import annotations

from django.db import transaction

from fleet.locks import lock_sites
from fleet.models import Site
from fleet.seeding import sensor_values
from fleet.sim.schema import SENSORS
from fleet.sim.state import SiteState
from fleet.units import SeededIds
from smartmine.platform import audit
from smartmine.platform.models import AuditAction
from stockpiles.choices import MaterialKind
from stockpiles.models import Material, Stockpile

#: The highest reclaim set point accepted: the fastest discharge a stockpile reading may report.
MAX_RECLAIM_RATE_TPH = SENSORS["stockpile"]["discharge_rate_tph"].maximum


@transaction.atomic
def set_reclaim_rate(*, stockpile: Stockpile, reclaim_rate_tph: float, actor=None) -> Stockpile:
    """Set the rate operators reclaim the pile at; the simulator follows it from its next tick."""
    if not 0 <= reclaim_rate_tph <= MAX_RECLAIM_RATE_TPH:
        raise ValueError(f"reclaim rate must be between 0 and {MAX_RECLAIM_RATE_TPH:g} t/h")
    lock_sites([stockpile.site_id])  # the lock order (fleet.locks): the site, then the pile
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


_MATERIAL_NAMES = {
    MaterialKind.ORE: "Run-of-mine ore",
    MaterialKind.PRODUCT: "Lump and fines product",
    MaterialKind.WASTE: "Waste rock",
}


def seed_stockpiles(site: Site, state: SiteState, ids: SeededIds) -> dict[int, int]:
    """The site's materials and the rows of the engine's stockpiles; returns engine id -> primary key."""
    materials = {
        kind: Material.objects.create(site=site, name=_MATERIAL_NAMES[kind], kind=kind, grade_pct=grade)
        for kind, grade in _material_grades(state).items()
    }
    return {
        pile.id: Stockpile.objects.create(
            site=site,
            name=pile.name,
            material=materials.get(pile.material),
            capacity_t=pile.capacity_t,
            reclaim_rate_tph=pile.reclaim_rate_tph,
            low_pct=pile.low_pct,
            high_pct=pile.high_pct,
            status=str(pile.status),
            lat=pile.lat,
            lon=pile.lon,
            live=pile.live,
            **sensor_values(pile, "stockpile"),
        ).pk
        for pile in state.stockpiles
    }


def _material_grades(state: SiteState) -> dict[str, float]:
    grades: dict[str, float] = {}
    for pile in state.stockpiles:
        grades.setdefault(str(pile.material), pile.grade_pct)
    for zone in state.zones:
        grades.setdefault(str(zone.material), zone.grade_pct)
    return grades
