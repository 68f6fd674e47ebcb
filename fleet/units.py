"""The kinds of equipment a site's engine simulates, each registered by the app that owns its model.

fleet owns the site, the tick, seeding and the reading history; plants (crushers) and stockpiles sit above
it and register their kinds in their AppConfig.ready(), so the tick, seeding, status changes, telemetry and
the history reach every unit without fleet importing the apps above it (docs/architecture.md). Kinds are
registered, and seeded, in the order their apps are installed: stockpiles before plants, since a crusher
names the pile it feeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Model

if TYPE_CHECKING:
    from fleet.models import Site
    from fleet.sim.state import SiteState

#: engine kind -> engine id -> database key, filled as seeding creates rows.
SeededIds = dict[str, dict[int, int]]


@dataclass(frozen=True)
class UnitKind:
    """One kind of equipment: its table, where the engine keeps its units, and what operators may change."""

    kind: str  # the engine's name: a key of fleet.sim.schema.SENSORS, or "loader"
    model: type[Model]  # the equipment table (current state)
    units: str  # the SiteState list holding the engine's units of this kind
    reading: type[Model] | None = None  # history tables, for kinds that keep a reading history
    rollup: type[Model] | None = None
    #: Status a unit returns to from maintenance; None: the kind has no maintenance status.
    in_service: str | None = None
    #: Columns operators set that the engine follows (copied into the engine state every tick).
    setpoints: tuple[str, ...] = ()
    #: Column holding the limit telemetry and CSV imports check a sensor against (fuel tank, capacity).
    limit_column: str | None = None
    #: Specifications of a unit `import_readings --create-missing` creates (edited later in the admin).
    placeholder: dict[str, Any] = field(default_factory=dict)
    #: Creates the kind's rows for a seeded site; returns engine id -> primary key.
    seed: Callable[[Site, SiteState, SeededIds], dict[int, int]] | None = None


_KINDS: dict[str, UnitKind] = {}


def register(unit_kind: UnitKind) -> None:
    """Declare a kind of equipment (from its app's ready())."""
    existing = _KINDS.get(unit_kind.kind)
    if existing is not None and existing != unit_kind:
        raise ValueError(f"equipment kind {unit_kind.kind!r} is already registered by {existing.model}")
    _KINDS[unit_kind.kind] = unit_kind


def get(kind: str) -> UnitKind:
    """The registered kind; ValueError naming the known ones for anything else."""
    if kind not in _KINDS:
        raise ValueError(f"unknown equipment kind {kind!r}: expected one of {', '.join(_KINDS)}")
    return _KINDS[kind]


def of_model(model: type[Model]) -> UnitKind | None:
    """The kind whose equipment table is `model`, None when it is not equipment."""
    return next((unit_kind for unit_kind in _KINDS.values() if unit_kind.model is model), None)


def all_kinds() -> list[UnitKind]:
    """Every registered kind, in registration (app installation) order."""
    return list(_KINDS.values())
