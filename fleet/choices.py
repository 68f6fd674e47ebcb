"""Enumerations used by models, admin, API and CSV, derived from the engine contract (fleet/sim/schema.py).

The StrEnums in schema.py are the one source of truth for status values; this module turns each into a
Django TextChoices with the same members and values, so `TruckStatus.LOADING == schema.TruckStatus.LOADING`.
Group and permission names used by the demo login and the admin live here too.
"""

from __future__ import annotations

import enum

from django.db import models

from fleet.sim import schema


def text_choices(source: type[enum.StrEnum]) -> type[models.TextChoices]:
    """A TextChoices with the members and values of `source`; labels read like "Queued at loader"."""
    members = [
        (member.name, (member.value, member.value.replace("_", " ").capitalize())) for member in source
    ]
    return models.TextChoices(source.__name__, members)


TruckStatus = text_choices(schema.TruckStatus)
LoaderStatus = text_choices(schema.LoaderStatus)
ZoneStatus = text_choices(schema.ZoneStatus)


class DispatchStrategy(models.TextChoices):
    """How the dispatcher assigns an empty truck to a loader."""

    FIXED = "fixed", "Fixed assignment"
    SHORTEST_QUEUE = "shortest_queue", "Shortest queue"
    SPTF = "sptf", "Shortest processing time first"
    OPTIMISER = "optimiser", "Optimiser"


class ZoneMaterial(models.TextChoices):
    """What a pit zone is mined for."""

    ORE = schema.MaterialKind.ORE.value, "Ore"
    WASTE = schema.MaterialKind.WASTE.value, "Waste"


#: Badge colour per status value, shared by every admin list (values repeat across kinds on purpose).
STATUS_COLOURS: dict[str, str] = {
    "running": "#2e7d32",
    "loading": "#2e7d32",
    "hauling": "#2e7d32",
    "dumping": "#2e7d32",
    "returning": "#558b2f",
    "active": "#2e7d32",
    "normal": "#2e7d32",
    "idle": "#757575",
    "waiting": "#757575",
    "planned": "#757575",
    "closed": "#757575",
    "depleted": "#757575",
    "queued_at_loader": "#f9a825",
    "queued_at_dump": "#f9a825",
    "refuelling": "#0277bd",
    "low": "#f9a825",
    "high": "#f9a825",
    "empty": "#ef6c00",
    "full": "#ef6c00",
    "blocked": "#ef6c00",
    "maintenance": "#1565c0",
    "broken_down": "#c62828",
}

# --- Roles: group names are created by analytics/migrations/0003_roles.py.
OPERATORS_GROUP = "Operators"
ENGINEERS_GROUP = "Engineers"
#: Equipment gateways: token users that post telemetry (created by fleet/migrations/0007_gateways.py).
GATEWAYS_GROUP = "Gateways"
ROLE_GROUPS = (OPERATORS_GROUP, ENGINEERS_GROUP)

#: Custom permissions ("app_label.codename"), declared in the models' Meta.permissions.
CHANGE_EQUIPMENT_STATUS = "fleet.change_equipment_status"
CONTROL_SIMULATION = "fleet.control_simulation"
INGEST_TELEMETRY = "fleet.ingest_telemetry"
