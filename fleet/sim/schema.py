"""The contract between the simulation engine and everything that stores or shows its output.

Pure Python (no Django): the engine, the reading tables, the CSV format, the API and the admin all take
equipment states and sensor fields from here, so there is one source of truth for each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TruckStatus(enum.StrEnum):
    WAITING = "waiting"  # no assignment yet
    RETURNING = "returning"  # travelling empty to a loader
    QUEUED_AT_LOADER = "queued_at_loader"
    LOADING = "loading"
    HAULING = "hauling"  # travelling loaded to a crusher or dump
    QUEUED_AT_DUMP = "queued_at_dump"  # crusher or waste dump
    DUMPING = "dumping"
    REFUELLING = "refuelling"
    MAINTENANCE = "maintenance"  # planned, set by operators
    BROKEN_DOWN = "broken_down"  # unplanned


class LoaderStatus(enum.StrEnum):
    IDLE = "idle"
    LOADING = "loading"
    MAINTENANCE = "maintenance"
    BROKEN_DOWN = "broken_down"


class CrusherStatus(enum.StrEnum):
    RUNNING = "running"
    IDLE = "idle"  # starved: empty feed bin
    BLOCKED = "blocked"  # downstream stockpile full, or a blockage in the chamber
    MAINTENANCE = "maintenance"
    BROKEN_DOWN = "broken_down"


class StockpileStatus(enum.StrEnum):
    NORMAL = "normal"
    LOW = "low"
    HIGH = "high"
    FULL = "full"
    EMPTY = "empty"


class ZoneStatus(enum.StrEnum):
    ACTIVE = "active"
    PLANNED = "planned"
    DEPLETED = "depleted"
    CLOSED = "closed"


class MaterialKind(enum.StrEnum):
    ORE = "ore"
    WASTE = "waste"
    PRODUCT = "product"


#: States in which a truck is out of service (for availability KPIs).
TRUCK_DOWN_STATES = frozenset({TruckStatus.MAINTENANCE, TruckStatus.BROKEN_DOWN})


@dataclass(frozen=True, slots=True)
class SensorField:
    """One sensor column of a reading row: its name, unit and physically possible range."""

    name: str
    unit: str
    minimum: float
    maximum: float
    description: str


def _fields(*items: SensorField) -> dict[str, SensorField]:
    return {item.name: item for item in items}


#: Sensor columns per equipment kind, in CSV/export order. Ranges are hard physical limits used to reject
#: bad input; they are deliberately wide (a 400 t payload is wrong for any truck on earth, 240 t is not).
TRUCK_SENSORS = _fields(
    SensorField("lat", "deg", -90, 90, "GPS latitude"),
    SensorField("lon", "deg", -180, 180, "GPS longitude"),
    SensorField("heading_deg", "deg", 0, 360, "heading, clockwise from north"),
    SensorField("speed_kmh", "km/h", 0, 120, "ground speed"),
    SensorField("payload_t", "t", 0, 400, "payload on the tray"),
    SensorField("fuel_l", "L", 0, 10_000, "fuel in the tank (also checked against the tank size)"),
    SensorField("engine_temp_c", "degC", -50, 200, "engine coolant temperature"),
    SensorField("tyre_pressure_kpa", "kPa", 0, 1_500, "mean tyre pressure"),
    SensorField("vibration_mm_s", "mm/s", 0, 200, "drivetrain vibration velocity (RMS)"),
    SensorField("engine_hours", "h", 0, 1_000_000, "engine hour meter"),
    SensorField("health", "%", 0, 100, "health score"),
)

CRUSHER_SENSORS = _fields(
    SensorField("throughput_tph", "t/h", 0, 20_000, "product out of the crusher"),
    SensorField("feed_bin_t", "t", 0, 5_000, "material waiting in the feed bin"),
    SensorField("efficiency_pct", "%", 0, 100, "share of rated capacity achievable now"),
    SensorField("temperature_c", "degC", -50, 200, "bearing temperature"),
    SensorField("vibration_mm_s", "mm/s", 0, 200, "frame vibration velocity (RMS)"),
    SensorField("power_kw", "kW", 0, 5_000, "motor power draw"),
    SensorField("liner_wear_pct", "%", 0, 100, "liner wear, 100 = due for change"),
    SensorField("health", "%", 0, 100, "health score"),
)

STOCKPILE_SENSORS = _fields(
    SensorField("level_t", "t", 0, 10_000_000, "material on the pile (also checked against capacity)"),
    SensorField("fill_rate_tph", "t/h", 0, 20_000, "rate in from its crusher"),
    SensorField("discharge_rate_tph", "t/h", 0, 20_000, "reclaim rate out"),
    SensorField("utilisation_pct", "%", 0, 100, "level as a share of capacity"),
    SensorField("grade_pct", "%", 0, 100, "blended head grade"),
)

SENSORS: dict[str, dict[str, SensorField]] = {
    "truck": TRUCK_SENSORS,
    "crusher": CRUSHER_SENSORS,
    "stockpile": STOCKPILE_SENSORS,
}

STATUSES: dict[str, type[enum.StrEnum]] = {
    "truck": TruckStatus,
    "crusher": CrusherStatus,
    "stockpile": StockpileStatus,
}

EQUIPMENT_KINDS = tuple(SENSORS)
