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


#: The colour of each status value, the one source for the dashboard (its map, badges and legend, given in
#: the page's config) and every admin list: distinct within each kind of unit, the same meaning in the same
#: colour across kinds (red broken down, indigo maintenance, green hauling or running).
STATUS_COLOURS: dict[str, str] = {
    "waiting": "#9e9e9e",
    "returning": "#7cb342",
    "queued_at_loader": "#fbc02d",
    "loading": "#1e88e5",
    "hauling": "#2e7d32",
    "queued_at_dump": "#f57c00",
    "dumping": "#8e24aa",
    "refuelling": "#00acc1",
    "maintenance": "#3949ab",
    "broken_down": "#d32f2f",
    "idle": "#9e9e9e",
    "running": "#2e7d32",
    "blocked": "#f57c00",
    "normal": "#2e7d32",
    "low": "#fbc02d",
    "high": "#f57c00",
    "full": "#d32f2f",
    "empty": "#6d4c41",
    "active": "#2e7d32",
    "planned": "#1e88e5",
    "depleted": "#9e9e9e",
    "closed": "#616161",
}
#: Statuses whose colour is light: their badges take dark text.
LIGHT_STATUSES: frozenset[str] = frozenset(
    {"waiting", "idle", "queued_at_loader", "low", "returning", "depleted"}
)
#: A status without a colour of its own.
UNKNOWN_STATUS_COLOUR = "#757575"

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
