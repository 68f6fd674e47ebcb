"""Writes to crushers: seeding a site's crushers (fleet's seeding calls it through the registered kind,
plants.apps). Maintenance goes through fleet.services, which serves every kind that has a maintenance status.
"""

from __future__ import annotations

from fleet.models import Site
from fleet.seeding import sensor_values
from fleet.sim.state import SiteState
from fleet.units import SeededIds
from plants.choices import CrusherType
from plants.models import Crusher

#: Crusher type from the model names used in fleet/sim/layout.py.
_CRUSHER_TYPES = {"gyratory": CrusherType.GYRATORY, "jaw": CrusherType.JAW, "cone": CrusherType.CONE}


def crusher_type(model_name: str) -> str:
    """The type a crusher model's name says ("Metso Superior MK-III 60-110 gyratory" -> gyratory)."""
    return next(
        (kind for word, kind in _CRUSHER_TYPES.items() if word in model_name.lower()), CrusherType.GYRATORY
    )


def seed_crushers(site: Site, state: SiteState, ids: SeededIds) -> dict[int, int]:
    """Rows of the engine's crushers, each feeding its seeded stockpile; returns engine id -> primary key."""
    return {
        crusher.id: Crusher.objects.create(
            site=site,
            name=crusher.name,
            model=crusher.model,
            crusher_type=crusher_type(crusher.model),
            rated_capacity_tph=crusher.rated_tph,
            motor_power_kw=crusher.motor_power_kw,
            feed_bin_capacity_t=crusher.feed_bin_capacity_t,
            liner_life_t=crusher.liner_life_t,
            tip_points=crusher.tip_points,
            shift_target_t=crusher.shift_target_t,
            stockpile_id=ids.get("stockpile", {}).get(crusher.stockpile_id),
            status=str(crusher.status),
            lat=crusher.lat,
            lon=crusher.lon,
            live=crusher.live,
            **sensor_values(crusher, "crusher"),
        ).pk
        for crusher in state.crushers
    }
