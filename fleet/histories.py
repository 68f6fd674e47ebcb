"""The tables behind each equipment kind that keeps a reading history: its equipment (current state), its
readings and its one-minute rollups, as the apps registered them (fleet.units).

Ingestion (fleet.readings), partition upkeep (fleet.partitions), selectors, the admin and the ML frames all
find a kind's tables here, so no reader depends on how they are written.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model

from fleet import units
from fleet.sim.schema import SENSORS


@dataclass(frozen=True)
class History:
    """The tables behind one equipment kind: equipment (current state), readings and rollups."""

    kind: str
    equipment: type[Model]
    reading: type[Model]
    rollup: type[Model]

    @property
    def sensors(self) -> list[str]:
        return list(SENSORS[self.kind])

    @property
    def copy_columns(self) -> list[str]:
        """Reading columns in COPY order: equipment, time, status, then the sensors in schema order."""
        return ["equipment_id", "ts", "status", *self.sensors]


def history_kinds() -> list[str]:
    """Kinds that keep a reading history, in the engine schema's order (truck, crusher, stockpile)."""
    registered = _registered_histories()
    return [kind for kind in SENSORS if kind in registered]


def _registered_histories() -> dict[str, History]:
    return {
        unit_kind.kind: History(unit_kind.kind, unit_kind.model, unit_kind.reading, unit_kind.rollup)
        for unit_kind in units.all_kinds()
        if unit_kind.reading is not None and unit_kind.rollup is not None
    }


def history(kind: str) -> History:
    """The History of `kind` ("truck", "crusher" or "stockpile"); ValueError for anything else."""
    registered = _registered_histories()
    if kind not in registered:
        known = ", ".join(history_kinds())
        raise ValueError(f"unknown equipment kind {kind!r}: expected one of {known}")
    return registered[kind]


def histories() -> list[History]:
    registered = _registered_histories()
    return [registered[kind] for kind in SENSORS if kind in registered]
