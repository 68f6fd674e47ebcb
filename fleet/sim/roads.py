"""The haul road network: routes between nodes and positions along road polylines.

Derived from the roads alone and never stored: a small cache keyed by the road geometry lets every tick of a
site reuse it, even though the Django side rebuilds the state from JSON each tick.
"""

from __future__ import annotations

import bisect
import heapq
import math
from typing import TYPE_CHECKING

from fleet.sim.geo import LatLon, bearing_deg, segment_m

if TYPE_CHECKING:
    from fleet.sim.state import RoadState

UNREACHABLE_S = 1e9
# The dispatcher's travel-time estimates follow the engine's speed model (truck.leg_speed) for a reference
# truck, the CAT 793F of layout.TRUCK_CLASSES: road and truck limits, and what the engine can pull up a grade.
REFERENCE_EMPTY_T = 163.0
REFERENCE_PAYLOAD_T = 227.0
REFERENCE_POWER_KW = 1976.0
REFERENCE_LIMITS_KMH = (55.0, 40.0)  # empty, loaded
G_M_S2 = 9.81
ROLLING_RESISTANCE = 0.025  # 2.5 % of weight: a well-kept haul road (Caterpillar Performance Handbook)
DRIVETRAIN_EFFICIENCY = 0.80  # flywheel to wheel, mechanical/electric drive ~80 %


class RoadGeometry:
    __slots__ = ("bearings", "cum_m", "points", "road")

    def __init__(self, road: RoadState) -> None:
        self.road = road
        self.points = [tuple(p) for p in road.polyline]
        raw = [0.0]
        for i in range(len(self.points) - 1):
            raw.append(raw[-1] + segment_m(self.points[i], self.points[i + 1]))
        # Progress is counted in the road's own length_m; the polyline only places it on the map.
        scale = road.length_m / raw[-1] if raw[-1] > 0 else 0.0
        self.cum_m = [d * scale for d in raw]
        self.bearings = [bearing_deg(self.points[i], self.points[i + 1]) for i in range(len(self.points) - 1)]

    def locate(self, forward: bool, pos_m: float) -> tuple[float, float, float]:
        """(lat, lon, heading_deg) at pos_m from the start of the trip along this road."""
        length = self.road.length_m
        pos = min(max(pos_m, 0.0), length)
        s = pos if forward else length - pos
        i = min(max(bisect.bisect_right(self.cum_m, s) - 1, 0), len(self.points) - 2)
        seg = self.cum_m[i + 1] - self.cum_m[i]
        u = 0.0 if seg <= 0 else (s - self.cum_m[i]) / seg
        a, b = self.points[i], self.points[i + 1]
        heading = self.bearings[i] if forward else (self.bearings[i] + 180.0) % 360.0
        return (a[0] + u * (b[0] - a[0]), a[1] + u * (b[1] - a[1]), heading)


def road_seconds(road: RoadState, forward: bool, loaded: bool) -> float:
    """Seconds a reference truck (empty or loaded) takes along a road: a loaded truck crawls up a 9 % ramp at
    ~13 km/h, so plain distance would misrank routes that climb out of the pit."""
    limit_kmh = min(
        road.speed_limit_loaded_kmh if loaded else road.speed_limit_empty_kmh,
        REFERENCE_LIMITS_KMH[1] if loaded else REFERENCE_LIMITS_KMH[0],
    )
    speed_ms = limit_kmh / 3.6
    resistance = (road.grade_pct if forward else -road.grade_pct) / 100.0 + ROLLING_RESISTANCE
    if resistance > 0:
        mass_kg = (REFERENCE_EMPTY_T + (REFERENCE_PAYLOAD_T if loaded else 0.0)) * 1000.0
        wheel_w = REFERENCE_POWER_KW * 1000.0 * DRIVETRAIN_EFFICIENCY
        speed_ms = min(speed_ms, wheel_w / (mass_kg * G_M_S2 * resistance))
    return road.length_m / speed_ms


class TravelTimes(dict):
    """Estimated travel seconds keyed by (from_node, to_node) along the route the engine drives, for an empty
    (or, with loaded=True, a loaded) reference truck; filled in on first use."""

    def __init__(self, topology: Topology, loaded: bool = False) -> None:
        super().__init__()
        self._topology = topology
        self._loaded = loaded

    def __missing__(self, key: tuple[str, str]) -> float:
        route = self._topology.route(*key)
        if route is None:
            value = UNREACHABLE_S
        else:
            roads = self._topology.roads
            value = sum(
                road_seconds(roads[road_id].road, forward, self._loaded) for road_id, forward in route
            )
        self[key] = value
        return value


class Topology:
    """Nodes, adjacency and shortest routes (by distance) of a road network."""

    def __init__(self, roads: list[RoadState]) -> None:
        self.roads: dict[int, RoadGeometry] = {}
        self.node_latlon: dict[str, LatLon] = {}
        self.adjacency: dict[str, list[tuple[float, str, int, bool]]] = {}
        for road in sorted(roads, key=lambda r: r.id):
            geometry = RoadGeometry(road)
            self.roads[road.id] = geometry
            self.node_latlon.setdefault(road.start_node, geometry.points[0])
            self.node_latlon.setdefault(road.end_node, geometry.points[-1])
            self.adjacency.setdefault(road.start_node, []).append(
                (road.length_m, road.end_node, road.id, True)
            )
            self.adjacency.setdefault(road.end_node, []).append(
                (road.length_m, road.start_node, road.id, False)
            )
        self._trees: dict[str, tuple[dict[str, float], dict[str, tuple[str, int, bool]]]] = {}
        self._routes: dict[tuple[str, str], tuple[tuple[int, bool], ...] | None] = {}
        self.travel_time_s = TravelTimes(self)
        self.haul_time_s = TravelTimes(self, loaded=True)

    def _tree(self, source: str) -> tuple[dict[str, float], dict[str, tuple[str, int, bool]]]:
        tree = self._trees.get(source)
        if tree is None:
            dist = {source: 0.0}
            prev: dict[str, tuple[str, int, bool]] = {}
            heap = [(0.0, source)]
            while heap:
                d, node = heapq.heappop(heap)
                if d > dist[node]:
                    continue
                for length, other, road_id, forward in self.adjacency.get(node, ()):
                    nd = d + length
                    if nd < dist.get(other, math.inf):
                        dist[other] = nd
                        prev[other] = (node, road_id, forward)
                        heapq.heappush(heap, (nd, other))
            tree = self._trees[source] = (dist, prev)
        return tree

    def distance_m(self, source: str, target: str) -> float:
        return self._tree(source)[0].get(target, math.inf)

    def route(self, source: str, target: str) -> tuple[tuple[int, bool], ...] | None:
        """Roads (id, forward) from source to target; () when already there, None when unreachable."""
        key = (source, target)
        if key not in self._routes:
            dist, prev = self._tree(source)
            if target not in dist:
                self._routes[key] = None
            else:
                legs = []
                node = target
                while node != source:
                    node, road_id, forward = prev[node]
                    legs.append((road_id, forward))
                self._routes[key] = tuple(reversed(legs))
        return self._routes[key]


_CACHE: dict[tuple, Topology] = {}
_CACHE_SIZE = 32


def topology_for(roads: list[RoadState]) -> Topology:
    key = tuple(
        (
            r.id,
            r.start_node,
            r.end_node,
            r.length_m,
            r.grade_pct,
            r.speed_limit_empty_kmh,
            r.speed_limit_loaded_kmh,
            tuple(tuple(p) for p in r.polyline),
        )
        for r in roads
    )
    topology = _CACHE.get(key)
    if topology is None:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        topology = _CACHE[key] = Topology(roads)
    return topology
