"""Flat-earth geometry for one mine site.

A site is a few kilometres across, so an equirectangular projection around the site is accurate to
centimetres and far cheaper than geodesics.
"""

from __future__ import annotations

import math

LatLon = tuple[float, float]

M_PER_DEG_LAT = 111_320.0  # metres per degree of latitude (WGS84 mean, within 0.5 % everywhere)


def m_per_deg_lon(lat_deg: float) -> float:
    return M_PER_DEG_LAT * math.cos(math.radians(lat_deg))


def offset_latlon(origin: LatLon, east_m: float, north_m: float) -> LatLon:
    """The point east_m/north_m metres from origin."""
    lat0, lon0 = origin
    return (lat0 + north_m / M_PER_DEG_LAT, lon0 + east_m / m_per_deg_lon(lat0))


def segment_m(a: LatLon, b: LatLon) -> float:
    mid_lat = 0.5 * (a[0] + b[0])
    north_m = (b[0] - a[0]) * M_PER_DEG_LAT
    east_m = (b[1] - a[1]) * m_per_deg_lon(mid_lat)
    return math.hypot(east_m, north_m)


def bearing_deg(a: LatLon, b: LatLon) -> float:
    """Heading from a to b, clockwise from north, in [0, 360)."""
    mid_lat = 0.5 * (a[0] + b[0])
    north_m = (b[0] - a[0]) * M_PER_DEG_LAT
    east_m = (b[1] - a[1]) * m_per_deg_lon(mid_lat)
    return math.degrees(math.atan2(east_m, north_m)) % 360.0


def polyline_length_m(points: list[LatLon]) -> float:
    return sum(segment_m(points[i], points[i + 1]) for i in range(len(points) - 1))


def distance_to_polyline_m(point: LatLon, points: list[LatLon]) -> float:
    """Shortest distance from a point to a polyline (used to check that trucks stay on roads)."""
    lat0 = point[0]
    kx = m_per_deg_lon(lat0)

    def xy(p: LatLon) -> tuple[float, float]:
        return ((p[1] - point[1]) * kx, (p[0] - point[0]) * M_PER_DEG_LAT)

    best = math.inf
    for i in range(len(points) - 1):
        ax, ay = xy(points[i])
        bx, by = xy(points[i + 1])
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        u = 0.0 if seg2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / seg2))
        best = min(best, math.hypot(ax + u * dx, ay + u * dy))
    return best
