"""A realistic open-pit site to start a simulation from (and to seed the database with).

An iron-ore pit in the Pilbara: an elliptical pit with ore and waste benches, a spiral ramp from every
loading face to the pit exit, primary crushers east of the pit each feeding a stockpile by conveyor, waste
dumps to the north and a fuel bay by the pit exit. It scales from the default 15 trucks to 1,000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from fleet.sim.faults import sample_failure_wear_h, schedule_next_anomaly
from fleet.sim.geo import LatLon, offset_latlon, polyline_length_m
from fleet.sim.schema import CrusherStatus, MaterialKind, StockpileStatus, TruckStatus, ZoneStatus
from fleet.sim.state import (
    CrusherState,
    DumpState,
    FaultConfig,
    FuelBayState,
    LoaderState,
    RoadState,
    SiteState,
    StockpileState,
    TruckState,
    ZoneState,
    node_name,
    rng_to_state,
)

SITE_ORIGIN: LatLon = (-22.30, 118.60)  # a Pilbara iron-ore pit (the Hamersley Range is around here)
DEFAULT_START_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z, so a default site is reproducible
PIT_EXIT_NODE = "junction:pit_exit"
PIT_SEMI_AXES_M = (900.0, 650.0)  # east-west, north-south half widths of the pit rim
RAMP_MAX_GRADE = 0.09  # haul ramps are built at 8-10 %
PIT_SPEED_LIMITS_KMH = (40.0, 30.0)  # empty, loaded: in-pit ramp rules
SURFACE_SPEED_LIMITS_KMH = (60.0, 40.0)
SHIFT_HOURS = 12.0  # two 12 h shifts a day, usual for Pilbara fly-in fly-out rosters
LOADER_UTILISATION = 0.55  # share of a shift a loader actually digs (queues, moves, breaks): shift targets


@dataclass(frozen=True, slots=True)
class TruckClass:
    model: str
    rated_payload_t: float
    empty_mass_t: float
    engine_power_kw: float
    fuel_tank_l: float
    max_speed_empty_kmh: float
    max_speed_loaded_kmh: float
    cold_tyre_pressure_kpa: float


#: A truck's specification: the fields its class gives it, copied onto every truck of that class (in the
#: engine state, the database row and a scenario's added trucks alike).
TRUCK_SPEC_FIELDS: tuple[str, ...] = tuple(spec.name for spec in fields(TruckClass))


def truck_spec(source: object) -> dict[str, object]:
    """The specification fields of a truck class, an engine truck or a truck row, by name."""
    return {name: getattr(source, name) for name in TRUCK_SPEC_FIELDS}


@dataclass(frozen=True, slots=True)
class LoaderClass:
    model: str
    prefix: str
    bucket_t: float
    dig_rate_tph: float
    engine_power_kw: float


@dataclass(frozen=True, slots=True)
class CrusherClass:
    model: str
    rated_tph: float
    motor_power_kw: float
    feed_bin_capacity_t: float
    liner_life_t: float
    tip_points: int


TRUCK_CLASSES = (
    # CAT 793F: 227 t rated payload, Cat 3516C 1,976 kW, 4,921 L tank, ~163 t empty; 40.00R57 tyres ~690 kPa.
    TruckClass("CAT 793F", 227.0, 163.0, 1976.0, 4921.0, 55.0, 40.0, 690.0),
    # CAT 777G: 91 t (100 short ton) class, Cat C32 ~746 kW net, 1,137 L tank, ~70 t empty; 27.00R49 tyres.
    TruckClass("CAT 777G", 91.0, 70.0, 746.0, 1137.0, 60.0, 40.0, 620.0),
)
LOADER_CLASSES = (
    # Bucket payloads at ~1.8 t/m³ loose; dig rates for 30-40 s pass cycles with ~0.85 fill.
    LoaderClass("CAT 6060 FS", "SH", 60.0, 5500.0, 3360.0),  # 34 m³ front shovel, 2 x 1,680 kW
    LoaderClass("Komatsu PC5500", "SH", 52.0, 4800.0, 1880.0),  # 29 m³, 2 x 940 kW
    LoaderClass("Hitachi EX3600", "SH", 40.0, 3800.0, 1400.0),  # 22 m³ backhoe/shovel
    LoaderClass("CAT 994K", "WL", 36.0, 3200.0, 1377.0),  # 19 m³ wheel loader
)
CRUSHER_CLASSES = (
    # Gyratory 54-75 (Metso Superior MK-III class): ~2,000 t/h at a tight setting, 450 kW; 600 t dump pocket.
    CrusherClass("Gyratory 54-75", 2000.0, 450.0, 600.0, 2_500_000.0, 2),
    # Jaw C160 class behind a ROM bin: ~1,000 t/h, 250 kW; 400 t bin.
    CrusherClass("Jaw C160", 1000.0, 250.0, 400.0, 1_200_000.0, 1),
)
ORE_GRADE_FE_PCT = (58.0, 63.5)  # Pilbara hematite ore blocks
WASTE_GRADE_FE_PCT = (20.0, 40.0)  # banded iron formation and shale waste
ZONE_TONNES = (600_000.0, 1_500_000.0)  # one bench block per zone


def _pit_xy(angle: float, radius_share: float) -> tuple[float, float]:
    return (
        PIT_SEMI_AXES_M[0] * radius_share * math.cos(angle),
        PIT_SEMI_AXES_M[1] * radius_share * math.sin(angle),
    )


def _length_xy(points: list[tuple[float, float]]) -> float:
    return sum(math.dist(points[i], points[i + 1]) for i in range(len(points) - 1))


def _ramp(angle: float, radius_share: float, depth_m: float) -> list[tuple[float, float]]:
    """A spiral from a face at (angle, radius) up to the pit exit at angle 0, long enough to stay <= 9 %."""
    angle = math.remainder(angle, 2 * math.pi)
    sweep = -angle if abs(angle) > 1e-6 else -math.pi / 2
    exit_share = 1.06
    while True:
        steps = max(8, int(abs(sweep) / (math.pi / 16)) + 1)
        points = [
            _pit_xy(angle + sweep * k / steps, radius_share + (exit_share - radius_share) * k / steps)
            for k in range(steps + 1)
        ]
        if depth_m / _length_xy(points) <= RAMP_MAX_GRADE:
            return points
        sweep += math.copysign(math.pi / 3, sweep)


def _road(
    road_id: int, name: str, start: str, end: str, xy: list[tuple[float, float]], rise_m: float, surface: bool
) -> RoadState:
    polyline = [offset_latlon(SITE_ORIGIN, x, y) for x, y in xy]
    length_m = polyline_length_m(polyline)
    empty_kmh, loaded_kmh = SURFACE_SPEED_LIMITS_KMH if surface else PIT_SPEED_LIMITS_KMH
    return RoadState(
        id=road_id,
        name=name,
        start_node=start,
        end_node=end,
        polyline=polyline,
        length_m=length_m,
        grade_pct=100.0 * rise_m / length_m,
        speed_limit_empty_kmh=empty_kmh,
        speed_limit_loaded_kmh=loaded_kmh,
    )


def _surface_path(start: tuple[float, float], end: tuple[float, float]) -> list[tuple[float, float]]:
    """A gently bending road between two surface points."""
    mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    dx, dy = end[0] - start[0], end[1] - start[1]
    bend = 0.08
    return [start, (mid[0] - dy * bend, mid[1] + dx * bend), end]


def _around_pit(end: tuple[float, float]) -> list[tuple[float, float]]:
    """From the pit exit around the rim (outside it) to a point on the far side."""
    target = math.atan2(end[1] / PIT_SEMI_AXES_M[1], end[0] / PIT_SEMI_AXES_M[0])
    steps = max(2, int(abs(target) / (math.pi / 12)))
    rim = [_pit_xy(target * k / steps, 1.06 + 0.14 * math.sin(math.pi * k / steps)) for k in range(steps + 1)]
    return [*rim, end]


def _width(n: int) -> int:
    return max(2, len(str(n)))


def default_site(
    seed: int = 7,
    trucks: int = 15,
    crushers: int = 3,
    stockpiles: int = 4,
    loaders: int | None = None,
    name: str = "Pilbara demo pit",
    dumps: int | None = None,
    clock_s: float = DEFAULT_START_S,
    config: FaultConfig | None = None,
) -> SiteState:
    """A site ready to simulate; ids run 1..N per kind. loaders defaults to one per ~4 trucks."""
    if trucks < 1 or crushers < 1:
        raise ValueError("a site needs at least one truck and one crusher")
    if stockpiles < crushers:
        raise ValueError(
            f"each crusher feeds its own stockpile: {crushers} crushers need >= {crushers} stockpiles"
        )
    n_loaders = loaders if loaders is not None else max(2, round(trucks / 4))
    if n_loaders < 2:
        raise ValueError("a site needs at least two loaders (one on ore, one on waste)")
    n_dumps = dumps if dumps is not None else max(1, n_loaders // 10)
    n_fuel_bays = max(1, trucks // 100)
    config = config or FaultConfig()
    rng = np.random.default_rng(seed)

    # Zones: one active face per loader, alternating ore/waste, plus planned faces to move to.
    n_zones = n_loaders + max(2, n_loaders // 2)
    zone_list: list[ZoneState] = []
    zone_geometry: list[tuple[float, float, float]] = []  # angle, radius share, depth
    w = _width(n_zones)
    for i in range(n_zones):
        zone_id = i + 1
        ore = i % 2 == 0
        angle = math.pi / 2 + 2 * math.pi * i / n_zones + rng.uniform(-0.1, 0.1)
        radius_share = rng.uniform(0.35, 0.8)
        depth_m = 40.0 + 20.0 * int(rng.integers(0, 7))
        x, y = _pit_xy(angle, radius_share)
        tonnes = float(rng.uniform(*ZONE_TONNES))
        low, high = ORE_GRADE_FE_PCT if ore else WASTE_GRADE_FE_PCT
        half = 60.0
        zone_list.append(
            ZoneState(
                id=zone_id,
                name=f"Z-{zone_id:0{w}d}",
                material=MaterialKind.ORE if ore else MaterialKind.WASTE,
                grade_pct=round(float(rng.uniform(low, high)), 2),
                remaining_t=tonnes,
                initial_t=tonnes,
                status=ZoneStatus.ACTIVE if i < n_loaders else ZoneStatus.PLANNED,
                bench_rl_m=500.0 - depth_m,  # pit rim at RL 500 m
                lat=offset_latlon(SITE_ORIGIN, x, y)[0],
                lon=offset_latlon(SITE_ORIGIN, x, y)[1],
                polygon=[
                    offset_latlon(SITE_ORIGIN, x + dx, y + dy)
                    for dx, dy in ((-half, -half), (half, -half), (half, half), (-half, half))
                ],
            )
        )
        zone_geometry.append((angle, radius_share, depth_m))

    roads: list[RoadState] = []
    for zone, (angle, radius_share, depth_m) in zip(zone_list, zone_geometry, strict=True):
        xy = _ramp(angle, radius_share, depth_m)
        roads.append(
            _road(
                len(roads) + 1,
                f"{zone.name} ramp",
                node_name("zone", zone.id),
                PIT_EXIT_NODE,
                xy,
                depth_m,
                False,
            )
        )
    exit_xy = _pit_xy(0.0, 1.06)

    # Crushers on an arc east of the pit, each with its stockpile 250 m further out along the conveyor.
    crusher_list: list[CrusherState] = []
    pile_list: list[StockpileState] = []
    wc = _width(max(crushers, stockpiles))
    for i in range(crushers):
        cls = CRUSHER_CLASSES[0 if i % 3 == 0 else 1]
        bearing = math.radians(-60.0 + 120.0 * (i + 0.5) / crushers)
        distance_m = 1900.0 + 350.0 * (i % 3)
        cx, cy = exit_xy[0] + distance_m * math.cos(bearing), exit_xy[1] + distance_m * math.sin(bearing)
        crusher_id = i + 1
        lat, lon = offset_latlon(SITE_ORIGIN, cx, cy)
        liner = float(rng.uniform(5.0, 70.0))
        shape, scale_h = config.crusher_weibull_shape, config.crusher_weibull_scale_h
        wear_h = float(rng.uniform(0.0, 0.8 * scale_h))
        crusher_list.append(
            CrusherState(
                id=crusher_id,
                name=f"CR-{crusher_id:0{wc}d}",
                model=cls.model,
                rated_tph=cls.rated_tph,
                motor_power_kw=cls.motor_power_kw,
                feed_bin_capacity_t=cls.feed_bin_capacity_t,
                stockpile_id=crusher_id,
                liner_life_t=cls.liner_life_t,
                tip_points=cls.tip_points,
                shift_target_t=round(cls.rated_tph * SHIFT_HOURS * 0.7),  # 70 % utilisation plan
                status=CrusherStatus.IDLE,
                lat=lat,
                lon=lon,
                feed_bin_t=0.3 * cls.feed_bin_capacity_t,
                feed_grade_pct=60.0,
                liner_wear_pct=liner,
                next_blockage_h=float(rng.exponential(config.crusher_blockage_mean_h)),
                wear_h=wear_h,
                failure_wear_h=sample_failure_wear_h(rng, shape, scale_h, wear_h),
                temperature_c=45.0,
            )
        )
        roads.append(
            _road(
                len(roads) + 1,
                f"Haul road to CR-{crusher_id:0{wc}d}",
                PIT_EXIT_NODE,
                node_name("crusher", crusher_id),
                _surface_path(exit_xy, (cx, cy)),
                10.0,  # ROM pad raised ~10 m for the tipping wall
                True,
            )
        )
        px, py = cx + 250.0 * math.cos(bearing), cy + 250.0 * math.sin(bearing)
        plat, plon = offset_latlon(SITE_ORIGIN, px, py)
        capacity_t = 60_000.0  # coarse-ore stockpile, live capacity
        level_t = float(rng.uniform(0.3, 0.6)) * capacity_t
        pile_list.append(
            StockpileState(
                id=crusher_id,
                name=f"SP-{crusher_id:0{wc}d}",
                material=MaterialKind.ORE,
                capacity_t=capacity_t,
                level_t=level_t,
                grade_pct=60.0,
                reclaim_rate_tph=0.6 * cls.rated_tph,  # the plant draws about what the pit delivers
                crusher_id=crusher_id,
                lat=plat,
                lon=plon,
                utilisation_pct=100.0 * level_t / capacity_t,
            )
        )
    for j in range(crushers, stockpiles):
        pile_id = j + 1
        px, py = exit_xy[0] + 3200.0 + 200.0 * (j - crushers), exit_xy[1] - 900.0
        plat, plon = offset_latlon(SITE_ORIGIN, px, py)
        capacity_t = 100_000.0  # product stockpile at the train load-out
        level_t = float(rng.uniform(0.4, 0.7)) * capacity_t
        pile_list.append(
            StockpileState(
                id=pile_id,
                name=f"SP-{pile_id:0{wc}d}",
                material=MaterialKind.PRODUCT,
                capacity_t=capacity_t,
                level_t=level_t,
                grade_pct=round(float(rng.uniform(60.5, 62.5)), 2),
                reclaim_rate_tph=250.0,  # train loading averaged over the day
                crusher_id=None,
                lat=plat,
                lon=plon,
                utilisation_pct=100.0 * level_t / capacity_t,
            )
        )
    for pile in pile_list:
        util = pile.utilisation_pct
        pile.status = StockpileStatus.HIGH if util >= pile.high_pct else StockpileStatus.NORMAL

    dump_list: list[DumpState] = []
    wd = _width(n_dumps)
    for i in range(n_dumps):
        dump_id = i + 1
        angle = math.radians(100.0 + 140.0 * (i + 0.5) / n_dumps)
        dx, dy = 1500.0 * math.cos(angle), 1300.0 * math.sin(angle)
        lat, lon = offset_latlon(SITE_ORIGIN, dx, dy)
        dump_list.append(
            DumpState(
                id=dump_id,
                name=f"WD-{dump_id:0{wd}d}",
                capacity_t=50_000_000.0,
                tip_points=4,
                lat=lat,
                lon=lon,
            )
        )
        roads.append(
            _road(
                len(roads) + 1,
                f"Haul road to WD-{dump_id:0{wd}d}",
                PIT_EXIT_NODE,
                node_name("dump", dump_id),
                _around_pit((dx, dy)),
                30.0,  # tipping on the current dump lift, ~30 m above the rim
                True,
            )
        )

    bays: list[FuelBayState] = []
    for i in range(n_fuel_bays):
        bay_id = i + 1
        fx, fy = exit_xy[0] + 200.0 + 60.0 * i, exit_xy[1] - 250.0 - 40.0 * i
        lat, lon = offset_latlon(SITE_ORIGIN, fx, fy)
        bays.append(FuelBayState(id=bay_id, name=f"FB-{bay_id:02d}", lat=lat, lon=lon, flow_lpm=500.0))
        roads.append(
            _road(
                len(roads) + 1,
                f"Fuel bay FB-{bay_id:02d}",
                PIT_EXIT_NODE,
                node_name("fuel", bay_id),
                _surface_path(exit_xy, (fx, fy)),
                0.0,
                True,
            )
        )

    loader_list: list[LoaderState] = []
    wl = _width(n_loaders)
    counters: dict[str, int] = {}
    shape, scale_h = config.loader_weibull_shape, config.loader_weibull_scale_h
    for i in range(n_loaders):
        cls = LOADER_CLASSES[i % len(LOADER_CLASSES)]
        counters[cls.prefix] = counters.get(cls.prefix, 0) + 1
        zone = zone_list[i]
        wear_h = float(rng.uniform(0.0, 0.8 * scale_h))
        loader_list.append(
            LoaderState(
                id=i + 1,
                name=f"{cls.prefix}-{counters[cls.prefix]:0{wl}d}",
                model=cls.model,
                zone_id=zone.id,
                dig_rate_tph=cls.dig_rate_tph,
                bucket_t=cls.bucket_t,
                engine_power_kw=cls.engine_power_kw,
                shift_target_t=round(cls.dig_rate_tph * SHIFT_HOURS * LOADER_UTILISATION),
                lat=zone.lat,
                lon=zone.lon,
                engine_hours=float(rng.uniform(5_000.0, 40_000.0)),
                wear_h=wear_h,
                failure_wear_h=sample_failure_wear_h(rng, shape, scale_h, wear_h),
            )
        )

    truck_list: list[TruckState] = []
    wt = _width(trucks)
    shape, scale_h = config.truck_weibull_shape, config.truck_weibull_scale_h
    for i in range(trucks):
        cls = TRUCK_CLASSES[1 if i % 3 == 2 else 0]
        start_node = node_name("zone", loader_list[i % n_loaders].zone_id)
        lat, lon = zone_list[i % n_loaders].lat, zone_list[i % n_loaders].lon
        wear_h = float(rng.uniform(0.0, 0.8 * scale_h))
        truck_list.append(
            TruckState(
                id=i + 1,
                name=f"HT-{i + 1:0{wt}d}",
                **truck_spec(cls),
                status=TruckStatus.WAITING,
                lat=lat,
                lon=lon,
                fuel_l=round(float(rng.uniform(0.35, 0.95)) * cls.fuel_tank_l, 1),
                engine_temp_c=85.0,
                tyre_pressure_kpa=cls.cold_tyre_pressure_kpa * 1.05,
                engine_hours=float(rng.uniform(5_000.0, 40_000.0)),
                node=start_node,
                wear_h=wear_h,
                failure_wear_h=sample_failure_wear_h(rng, shape, scale_h, wear_h),
            )
        )

    state = SiteState(
        name=name,
        seed=seed,
        tick=0,
        clock_s=clock_s,
        trucks=truck_list,
        loaders=loader_list,
        crushers=crusher_list,
        stockpiles=pile_list,
        dumps=dump_list,
        roads=roads,
        zones=zone_list,
        fuel_bays=bays,
        config=config,
        shift_hours=SHIFT_HOURS,
    )
    schedule_next_anomaly(state, rng, clock_s)
    state.rng_state = rng_to_state(rng)
    return state
