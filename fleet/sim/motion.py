"""Trucks on the road: setting off along a route, driving it leg by leg, and their position on the map."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fleet.sim.schema import TruckStatus
from fleet.sim.state import TruckState
from fleet.sim.truck import leg_speed, run_engine

if TYPE_CHECKING:
    from fleet.sim.context import Tick


def _enter_road(tick: Tick, truck: TruckState) -> None:
    road_id, forward = truck.route[truck.route_index]
    truck.leg_speed_ms, truck.leg_load_factor = leg_speed(tick, truck, road_id, forward)
    truck.speed_kmh = truck.leg_speed_ms * 3.6


def start_route(tick: Tick, truck: TruckState, target: str, status: TruckStatus) -> bool:
    route = tick.topo.route(truck.node, target)
    if route is None:
        return False
    truck.route = [[road_id, forward] for road_id, forward in route]
    truck.route_index = 0
    truck.road_pos_m = 0.0
    truck.target_node = target
    truck.status = status
    if truck.route:
        _enter_road(tick, truck)
    return True


def resume_route(tick: Tick, truck: TruckState) -> None:
    """Pick up speed again on the current road after a stop (breakdown, maintenance)."""
    if truck.route and truck.route_index < len(truck.route):
        _enter_road(tick, truck)


def travel(tick: Tick, truck: TruckState, budget_s: float) -> float:
    """Drive along the route; returns the time left over after reaching its end (0 if still on the road).
    What happens on arrival is the haul cycle's business (haul.py)."""
    while truck.route_index < len(truck.route):
        road_id, _ = truck.route[truck.route_index]
        remaining_m = tick.topo.roads[road_id].road.length_m - truck.road_pos_m
        need_s = remaining_m / truck.leg_speed_ms if truck.leg_speed_ms > 0 else math.inf
        if need_s > budget_s:
            truck.road_pos_m += truck.leg_speed_ms * budget_s
            run_engine(truck, budget_s, truck.leg_load_factor)
            return 0.0
        run_engine(truck, need_s, truck.leg_load_factor)
        budget_s -= need_s
        truck.route_index += 1
        truck.road_pos_m = 0.0
        if truck.route_index < len(truck.route):
            _enter_road(tick, truck)
    return budget_s


def locate_trucks(tick: Tick) -> None:
    """GPS position and heading of every simulated truck, interpolated along its road."""
    node_latlon = tick.topo.node_latlon
    roads = tick.topo.roads
    for truck in tick.state.trucks:
        if truck.live:
            continue
        if truck.route and truck.route_index < len(truck.route):
            road_id, forward = truck.route[truck.route_index]
            truck.lat, truck.lon, truck.heading_deg = roads[road_id].locate(forward, truck.road_pos_m)
        else:
            position = node_latlon.get(truck.node)
            if position is not None:
                truck.lat, truck.lon = position
            truck.speed_kmh = 0.0
        if truck.status not in (TruckStatus.RETURNING, TruckStatus.HAULING):
            truck.speed_kmh = 0.0
