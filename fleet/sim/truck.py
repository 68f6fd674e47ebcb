"""A haul truck's engine: its speed on a road, the fuel it burns and the wear it takes, and refuelling."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fleet.sim.faults import FAULT_EFFICIENCY_LOSS, severity
from fleet.sim.roads import DRIVETRAIN_EFFICIENCY, G_M_S2, ROLLING_RESISTANCE
from fleet.sim.schema import TruckStatus
from fleet.sim.state import TruckState, node_name

if TYPE_CHECKING:
    from fleet.sim.context import Tick

SPECIFIC_FUEL_L_PER_KWH = 0.24  # diesel at load, 0.21-0.25 L/kWh for Cat 3516/3512 class engines
IDLE_LOAD_FACTOR = 0.10  # idling diesel burns ~8-12 % of its rated fuel
DUMP_LOAD_FACTOR = 0.30  # raising the body on the hoist
REFUEL_AT_SHARE = 0.20  # a truck goes to the fuel bay below 20 % of its tank (typical dispatch rule)
REFUEL_SETUP_S = 180.0  # park, connect the fast-fill nozzle, disconnect
EPS = 1e-9

DOWN = (TruckStatus.MAINTENANCE, TruckStatus.BROKEN_DOWN)


def run_engine(truck: TruckState, seconds: float, load_factor: float) -> None:
    """Burn fuel, add engine hours and wear for `seconds` at `load_factor` of rated power."""
    hours = seconds / 3600.0
    truck.fuel_l = max(
        0.0, truck.fuel_l - truck.engine_power_kw * load_factor * SPECIFIC_FUEL_L_PER_KWH * hours
    )
    truck.engine_hours += hours
    truck.wear_h += hours * (0.4 + 0.9 * load_factor)  # hard work wears faster than idling
    truck.load_factor = load_factor


def leg_speed(tick: Tick, truck: TruckState, road_id: int, forward: bool) -> tuple[float, float]:
    """Speed (m/s) and engine load factor on a road: the lower of the limits and what the engine can pull."""
    road = tick.topo.roads[road_id].road
    loaded = truck.payload_t > 0
    limit_kmh = min(
        road.speed_limit_loaded_kmh if loaded else road.speed_limit_empty_kmh,
        truck.max_speed_loaded_kmh if loaded else truck.max_speed_empty_kmh,
    )
    speed_ms = limit_kmh / 3.6
    resistance = (road.grade_pct if forward else -road.grade_pct) / 100.0 + ROLLING_RESISTANCE
    mass_kg = (truck.empty_mass_t + truck.payload_t) * 1000.0
    wheel_w = truck.engine_power_kw * 1000.0 * DRIVETRAIN_EFFICIENCY
    if resistance > 0:
        speed_ms = min(speed_ms, wheel_w / (mass_kg * G_M_S2 * resistance))
    speed_ms *= 1.0 - FAULT_EFFICIENCY_LOSS * severity(truck.fault, tick.clock_s)
    power_w = mass_kg * G_M_S2 * max(resistance, 0.0) * speed_ms / DRIVETRAIN_EFFICIENCY
    load_factor = min(1.0, max(IDLE_LOAD_FACTOR, power_w / (truck.engine_power_kw * 1000.0)))
    return speed_ms, load_factor


def needs_fuel(truck: TruckState) -> bool:
    return truck.fuel_l < REFUEL_AT_SHARE * truck.fuel_tank_l


def nearest_fuel_bay(tick: Tick, truck: TruckState) -> str | None:
    best = None
    for bay in tick.state.fuel_bays:
        node = node_name("fuel", bay.id)
        distance = tick.topo.distance_m(truck.node, node)
        if math.isfinite(distance) and (best is None or distance < best[0]):
            best = (distance, node)
    return None if best is None else best[1]


def start_refuelling(tick: Tick, truck: TruckState, bay_id: str) -> None:
    """Park at a fuel bay: set-up, then a fill at the bay's flow rate to a full tank."""
    bay = next((b for b in tick.state.fuel_bays if str(b.id) == bay_id), None)
    flow_ls = (bay.flow_lpm if bay else 500.0) / 60.0
    truck.status = TruckStatus.REFUELLING
    truck.refuel_from_l = truck.fuel_l
    truck.phase_total_s = truck.timer_s = REFUEL_SETUP_S + (truck.fuel_tank_l - truck.fuel_l) / flow_ls


def refuel(tick: Tick, truck: TruckState, budget_s: float) -> float:
    used = min(budget_s, truck.timer_s)
    elapsed_before = truck.phase_total_s - truck.timer_s
    truck.timer_s -= used
    truck.load_factor = 0.0  # engine off at the bowser
    fill_s = max(0.0, elapsed_before + used - REFUEL_SETUP_S) - max(0.0, elapsed_before - REFUEL_SETUP_S)
    flow_ls = (truck.fuel_tank_l - truck.refuel_from_l) / max(truck.phase_total_s - REFUEL_SETUP_S, EPS)
    truck.fuel_l = min(truck.fuel_tank_l, truck.fuel_l + flow_ls * fill_s)
    if truck.timer_s > EPS:
        return 0.0
    truck.fuel_l = truck.fuel_tank_l
    tick.emit("refuelled", "truck", truck.id, fuel_l=truck.fuel_l, litres=truck.fuel_l - truck.refuel_from_l)
    truck.status = TruckStatus.WAITING
    return budget_s - used
