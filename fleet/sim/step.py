"""One tick of the site: advance every simulated unit by dt and report events, readings and labels.

step() advances the state it is given IN PLACE and returns it in the result (copying a 1,000-truck site
every tick would cost more than the step). A caller that needs the old state keeps `state.copy()`; the
Django tick reloads the state from the database after a failed transaction, so retries are safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fleet.dispatch import Dispatcher, shortest_queue
from fleet.sim import crusher as crushers
from fleet.sim import stockpile as stockpiles
from fleet.sim.context import Tick
from fleet.sim.faults import apply_anomalies, fault_rise, update_anomalies, weibull
from fleet.sim.haul import advance_truck, detach_trucks
from fleet.sim.lifecycle import advance_repair, check_failure, is_down, set_operator_status, update_health
from fleet.sim.loader import release_loader_trucks, serve_loader
from fleet.sim.motion import locate_trucks
from fleet.sim.schema import SENSORS, LoaderStatus, TruckStatus
from fleet.sim.state import Event, SiteState, rng_from_state, rng_to_state
from fleet.sim.tipping import release_destination_trucks, serve_tip
from fleet.sim.truck import DOWN as TRUCK_DOWN

__all__ = ["MAX_SUBSTEP_S", "StepResult", "set_operator_status", "step"]

MAX_SUBSTEP_S = 10.0  # longer steps are split so no phase (a 40 s spot, a 60 s dump) is skipped over
ENGINE_TAU_S = 240.0  # coolant temperature follows engine load over a few minutes
ENGINE_COOL_TAU_S = 1800.0  # and cools slowly when stopped
TYRE_TAU_S = 1200.0  # tyres heat up (and pressure rises) over ~20 min of running
AMBIENT_C = 30.0  # Pilbara daytime
#: Standard deviation of the reading noise per sensor (what a sensor adds on top of the true value).
READING_NOISE: dict[str, float] = {
    "speed_kmh": 0.4,
    "payload_t": 0.8,
    "engine_temp_c": 0.6,
    "tyre_pressure_kpa": 4.0,
    "vibration_mm_s": 0.25,
    "temperature_c": 0.5,
    "crusher_vibration_mm_s": 0.25,
    "power_kw": 6.0,
    "level_t": 0.0005,  # x capacity: a radar level scan
}


@dataclass(slots=True)
class StepResult:
    state: SiteState
    events: list[Event] = field(default_factory=list)
    readings: dict[str, list[dict]] = field(default_factory=dict)  # "truck"/"crusher"/"stockpile" → rows
    labels: list[dict] = field(default_factory=list)  # ground truth of injected faults started/ended


def step(state: SiteState, dt_s: float, dispatcher: Dispatcher | None = None) -> StepResult:
    """Advance the site by dt_s seconds, in place (see the module docstring); deterministic."""
    if not math.isfinite(dt_s) or dt_s < 0:
        raise ValueError(f"dt_s must be a finite number of seconds >= 0, got {dt_s!r}")
    rng = rng_from_state(state.rng_state)
    tick = Tick(state, rng, dispatcher or shortest_queue)
    tick.labels.extend(state.pending_labels)
    state.pending_labels = []
    _drop_live_units(tick)
    for crusher in state.crushers:
        if not crusher.live:
            crusher.step_out_t = 0.0
    for pile in state.stockpiles:
        if not pile.live:
            pile.step_in_t = pile.step_out_t = 0.0
    start_s = state.clock_s
    substeps = math.ceil(dt_s / MAX_SUBSTEP_S) if dt_s > 0 else 0
    for i in range(substeps):
        tick.clock_s = start_s + dt_s * (i + 1) / substeps
        _substep(tick, dt_s / substeps)
    state.clock_s = tick.clock_s = start_s + dt_s
    locate_trucks(tick)
    _update_sensors(tick, dt_s)
    update_anomalies(tick)
    readings = _readings(tick)
    apply_anomalies(tick, readings)
    _clip(tick, readings)
    state.tick += 1
    state.rng_state = rng_to_state(rng)
    return StepResult(state=state, events=tick.events, readings=readings, labels=tick.labels)


def _substep(tick: Tick, dt_s: float) -> None:
    state = tick.state
    tick.snapshot = None
    for loader in state.loaders:
        if not loader.live:
            serve_loader(tick, loader)
    for crusher in state.crushers:
        if not crusher.live:
            serve_tip(tick, "crusher", crusher)
    for dump in state.dumps:
        serve_tip(tick, "dump", dump)
    for truck in state.trucks:
        if truck.live:
            continue
        if truck.status in TRUCK_DOWN:
            truck.load_factor = 0.0
            advance_repair(tick, "truck", truck, dt_s)
            continue
        advance_truck(tick, truck, dt_s)
        check_failure(tick, "truck", truck)
    for loader in state.loaders:
        if loader.live:
            continue
        if is_down("loader", loader):
            advance_repair(tick, "loader", loader, dt_s)
            continue
        if loader.relocating_left_s > 0:
            loader.relocating_left_s = max(0.0, loader.relocating_left_s - dt_s)
        working = loader.status == LoaderStatus.LOADING
        loader.engine_hours += dt_s / 3600.0
        loader.wear_h += dt_s / 3600.0 * (1.0 if working else 0.3)
        check_failure(tick, "loader", loader)
    for crusher in state.crushers:
        if crusher.live:
            continue
        if is_down("crusher", crusher):
            advance_repair(tick, "crusher", crusher, dt_s)
            continue
        crushers.advance_crusher(tick, crusher, dt_s)
        check_failure(tick, "crusher", crusher)
    for pile in state.stockpiles:
        stockpiles.advance_stockpile(tick, pile, dt_s)


def _drop_live_units(tick: Tick) -> None:
    """Units fed by real telemetry take no part in the simulated queues."""
    state = tick.state
    live_trucks = {t.id for t in state.trucks if t.live}
    if live_trucks:
        detach_trucks(tick, live_trucks)
    for loader in state.loaders:
        if loader.live and (loader.queue or loader.loading_truck_id is not None):
            release_loader_trucks(tick, loader)
    for crusher in state.crushers:
        if crusher.live and (crusher.queue or crusher.tipping):
            release_destination_trucks(tick, crusher)
    for dump in state.dumps:
        if dump.live and (dump.queue or dump.tipping):
            release_destination_trucks(tick, dump)


def _relax(value: float, target: float, dt_s: float, tau_s: float) -> float:
    return value + (1.0 - math.exp(-dt_s / tau_s)) * (target - value)


def _update_sensors(tick: Tick, dt_s: float) -> None:
    """True (noise-free) sensor values and health scores at the end of the step."""
    state, clock_s = tick.state, tick.clock_s
    truck_scale_h = weibull(state.config, "truck")[1]
    for truck in state.trucks:
        if truck.live:
            continue
        fault = truck.fault
        running = truck.status not in TRUCK_DOWN and truck.status != TruckStatus.REFUELLING
        lf = truck.load_factor if running else 0.0
        payload_share = truck.payload_t / truck.rated_payload_t if truck.rated_payload_t else 0.0
        if running:
            target_c = 82.0 + 14.0 * lf + fault_rise("truck", fault, "engine_temp_c", clock_s)
            truck.engine_temp_c = _relax(truck.engine_temp_c, target_c, dt_s, ENGINE_TAU_S)
            truck.vibration_mm_s = (
                0.9
                + 2.8 * truck.speed_kmh / 50.0
                + 0.8 * payload_share
                + 0.6 * lf
                + fault_rise("truck", fault, "vibration_mm_s", clock_s)
            )
            tyre_target = truck.cold_tyre_pressure_kpa * (1.03 + 0.09 * lf)
        else:
            truck.engine_temp_c = _relax(truck.engine_temp_c, AMBIENT_C, dt_s, ENGINE_COOL_TAU_S)
            truck.vibration_mm_s = 0.1
            tyre_target = truck.cold_tyre_pressure_kpa
        tyre_target += fault_rise("truck", fault, "tyre_pressure_kpa", clock_s)
        truck.tyre_pressure_kpa = _relax(truck.tyre_pressure_kpa, tyre_target, dt_s, TYRE_TAU_S)
        update_health("truck", truck, clock_s, truck_scale_h)
    loader_scale_h = weibull(state.config, "loader")[1]
    for loader in state.loaders:
        if not loader.live:
            update_health("loader", loader, clock_s, loader_scale_h)
    crusher_scale_h = weibull(state.config, "crusher")[1]
    for crusher in state.crushers:
        if not crusher.live:
            crushers.update_sensors(crusher, dt_s, clock_s)
            update_health("crusher", crusher, clock_s, crusher_scale_h)
    for pile in state.stockpiles:
        if not pile.live:
            stockpiles.finish_step(pile, dt_s)


def _readings(tick: Tick) -> dict[str, list[dict]]:
    """One row per simulated unit: id, status, then every sensor of fleet/sim/schema.py in order."""
    state, rng = tick.state, tick.rng
    trucks = [t for t in state.trucks if not t.live]
    crusher_list = [c for c in state.crushers if not c.live]
    piles = [p for p in state.stockpiles if not p.live]
    noise_t = rng.standard_normal((len(trucks), 5)).tolist()
    noise_c = rng.standard_normal((len(crusher_list), 3)).tolist()
    noise_p = rng.standard_normal(len(piles)).tolist()
    n = READING_NOISE
    truck_rows = []
    for truck, (z_speed, z_payload, z_temp, z_tyre, z_vib) in zip(trucks, noise_t, strict=True):
        moving = truck.speed_kmh > 0
        loaded = truck.payload_t > 0
        truck_rows.append(
            {
                "id": truck.id,
                "status": str(truck.status),
                "lat": truck.lat,
                "lon": truck.lon,
                "heading_deg": truck.heading_deg,
                "speed_kmh": truck.speed_kmh + n["speed_kmh"] * z_speed if moving else 0.0,
                "payload_t": truck.payload_t + n["payload_t"] * z_payload if loaded else 0.0,
                "fuel_l": truck.fuel_l,
                "engine_temp_c": truck.engine_temp_c + n["engine_temp_c"] * z_temp,
                "tyre_pressure_kpa": truck.tyre_pressure_kpa + n["tyre_pressure_kpa"] * z_tyre,
                "vibration_mm_s": truck.vibration_mm_s + n["vibration_mm_s"] * z_vib,
                "engine_hours": truck.engine_hours,
                "health": truck.health,
            }
        )
    crusher_rows = []
    for crusher, (z_temp, z_vib, z_power) in zip(crusher_list, noise_c, strict=True):
        powered = crusher.power_kw > 0
        crusher_rows.append(
            {
                "id": crusher.id,
                "status": str(crusher.status),
                "throughput_tph": crusher.throughput_tph,
                "feed_bin_t": crusher.feed_bin_t,
                "efficiency_pct": crusher.efficiency_pct,
                "temperature_c": crusher.temperature_c + n["temperature_c"] * z_temp,
                "vibration_mm_s": crusher.vibration_mm_s
                + (n["crusher_vibration_mm_s"] * z_vib if powered else 0.0),
                "power_kw": crusher.power_kw + (n["power_kw"] * z_power if powered else 0.0),
                "liner_wear_pct": crusher.liner_wear_pct,
                "health": crusher.health,
            }
        )
    pile_rows = []
    for pile, z_level in zip(piles, noise_p, strict=True):
        pile_rows.append(
            {
                "id": pile.id,
                "status": str(pile.status),
                "level_t": pile.level_t + n["level_t"] * pile.capacity_t * z_level
                if pile.level_t > 0
                else 0.0,
                "fill_rate_tph": pile.fill_rate_tph,
                "discharge_rate_tph": pile.discharge_rate_tph,
                "utilisation_pct": pile.utilisation_pct,
                "grade_pct": pile.grade_pct,
            }
        )
    return {"truck": truck_rows, "crusher": crusher_rows, "stockpile": pile_rows}


def _clip(tick: Tick, readings: dict[str, list[dict]]) -> None:
    """Keep every reading inside the physical ranges of the schema (and the tank / pile capacity)."""
    for kind, rows in readings.items():
        fields = SENSORS[kind]
        limits = [(name, f.minimum, f.maximum) for name, f in fields.items()]
        for row in rows:
            for name, low, high in limits:
                value = row[name]
                if value < low:
                    row[name] = float(low)
                elif value > high:
                    row[name] = float(high)
    trucks = {t.id: t for t in tick.state.trucks}
    for row in readings["truck"]:
        row["fuel_l"] = min(row["fuel_l"], trucks[row["id"]].fuel_tank_l)
    piles = {p.id: p for p in tick.state.stockpiles}
    for row in readings["stockpile"]:
        row["level_t"] = float(np.clip(row["level_t"], 0.0, piles[row["id"]].capacity_t))
