"""Failures that announce themselves, and injected sensor anomalies, each with its ground truth.

Failure onset follows a Weibull distribution in wear-hours (shape > 1: the hazard rises as the unit wears).
Most onsets start a developing fault that raises the unit's wear signals for 6-48 h before it breaks down;
a minority are sudden. Sensor anomalies only disturb readings, never the physics. Every fault is recorded in
`SiteState.active_faults` while it lasts and reported as a label when it starts and ends.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from fleet.sim.state import Event, SiteState

if TYPE_CHECKING:
    from fleet.sim.context import Tick

#: Developing fault modes per unit kind: sensor → rise at full severity (just before the breakdown).
#: Rises are several times the reading noise (see READING_NOISE in step.py) so they stand out hours ahead.
FAULT_MODES: dict[str, dict[str, dict[str, float]]] = {
    "truck": {
        "bearing_wear": {"vibration_mm_s": 9.0, "engine_temp_c": 6.0},
        "cooling_fault": {"engine_temp_c": 22.0, "vibration_mm_s": 2.5},
        "tyre_damage": {"tyre_pressure_kpa": -150.0, "vibration_mm_s": 4.0, "engine_temp_c": 5.0},
    },
    "crusher": {
        "bearing_wear": {"vibration_mm_s": 8.0, "temperature_c": 15.0},
        "motor_fault": {"temperature_c": 20.0, "power_kw": 120.0, "vibration_mm_s": 2.5},
    },
    "loader": {
        "hydraulic_wear": {},
        "swing_gear_wear": {},
    },
}
SEVERITY_EXPONENT = 1.2  # severity = elapsed share ** 1.2: a visible rise early, steepening before failure
FAULT_EFFICIENCY_LOSS = 0.15  # a truck near failure runs ~15 % slower; a crusher loses this share of capacity

#: Sensors that injected anomalies may disturb, per kind; all vary in normal operation so a stuck value shows.
ANOMALY_FIELDS: dict[str, tuple[str, ...]] = {
    "truck": ("engine_temp_c", "vibration_mm_s", "tyre_pressure_kpa"),
    "crusher": ("temperature_c", "vibration_mm_s", "power_kw"),
    "stockpile": ("level_t",),
}
#: Typical spread of each field in normal running; anomaly sizes are multiples of it.
ANOMALY_SCALE: dict[str, float] = {
    "engine_temp_c": 4.0,
    "vibration_mm_s": 1.2,
    "tyre_pressure_kpa": 25.0,
    "temperature_c": 4.0,
    "power_kw": 40.0,
    "level_t": 0.02,  # x capacity
}
#: Sensors that idle near zero: a downward spike would be clipped at 0 and look like a stopped unit.
UPWARD_ONLY = frozenset({"vibration_mm_s", "power_kw"})
ANOMALY_KINDS = ("spike", "drift", "stuck", "noise_burst")
#: (min, max) duration in minutes per anomaly kind.
ANOMALY_DURATION_MIN: dict[str, tuple[float, float]] = {
    "spike": (2.0, 6.0),
    "drift": (20.0, 60.0),
    "stuck": (10.0, 60.0),
    "noise_burst": (5.0, 30.0),
}


def weibull(config: Any, kind: str) -> tuple[float, float]:
    return getattr(config, f"{kind}_weibull_shape"), getattr(config, f"{kind}_weibull_scale_h")


#: Wear-hours a unit accrues per hour in service, on average (measured on the default site over two days): how
#: a unit's wear at the start of a simulation becomes the calendar time of its last service.
WEAR_PER_SERVICE_HOUR: dict[str, float] = {"truck": 0.87, "loader": 0.76, "crusher": 0.86}
#: The event kind of a unit's last service before the twin began recording, from the maintenance record.
SERVICE_RECORD = "serviced"


def service_records(state: SiteState) -> list[Event]:
    """Each truck's, loader's and crusher's last service before `state`'s clock, as the mine's maintenance
    record (a CMMS) would give it when the twin is commissioned: a unit seeded with more wear was serviced
    longer ago. Without it the age of a unit is unknown until the twin sees its first repair, and risk
    cannot tell a worn unit from a fresh one."""
    units = {"truck": state.trucks, "loader": state.loaders, "crusher": state.crushers}
    return [
        Event(
            SERVICE_RECORD,
            kind,
            unit.id,
            float(round(state.clock_s - unit.wear_h / WEAR_PER_SERVICE_HOUR[kind] * 3600.0)),  # to the second
            {"source": "maintenance record"},
        )
        for kind, members in units.items()
        for unit in members
    ]


def sample_failure_wear_h(rng: np.random.Generator, shape: float, scale_h: float, wear_h: float) -> float:
    """Wear at the next fault onset, given the unit has already survived wear_h (conditional Weibull)."""
    u = rng.random()
    return scale_h * ((wear_h / scale_h) ** shape - math.log1p(-u)) ** (1.0 / shape)


def severity(fault: dict | None, clock_s: float) -> float:
    """0 (no fault, or just started) to 1 (at the breakdown)."""
    if fault is None:
        return 0.0
    span = fault["failure_s"] - fault["onset_s"]
    if span <= 0:
        return 1.0
    share = min(max((clock_s - fault["onset_s"]) / span, 0.0), 1.0)
    return share**SEVERITY_EXPONENT


def fault_rise(kind: str, fault: dict | None, field: str, clock_s: float) -> float:
    if fault is None:
        return 0.0
    rise = FAULT_MODES[kind][fault["mode"]].get(field, 0.0)
    return rise * severity(fault, clock_s) if rise else 0.0


def label(record: dict, event: str, end_s: float | None = None, **extra: Any) -> dict:
    out = dict(record, event=event)
    if end_s is not None:
        out["end_s"] = end_s
    out.update(extra)
    return out


def start_developing_fault(tick: Tick, kind: str, unit: Any) -> dict:
    """Begin a wear-driven fault on unit; returns its ground-truth record."""
    cfg = tick.state.config
    rng = tick.rng
    modes = sorted(FAULT_MODES[kind])
    mode = modes[int(rng.integers(len(modes)))]
    lead_h = math.exp(rng.uniform(math.log(cfg.precursor_min_h), math.log(cfg.precursor_max_h)))
    fault_id = tick.new_fault_id()
    onset_s = tick.clock_s
    failure_s = onset_s + lead_h * 3600.0
    unit.fault = {"fault_id": fault_id, "mode": mode, "onset_s": onset_s, "failure_s": failure_s}
    record = {
        "fault_id": fault_id,
        "category": "developing_fault",
        "label": mode,
        "unit_kind": kind,
        "unit_id": unit.id,
        "sensors": sorted(FAULT_MODES[kind][mode]),
        "start_s": onset_s,
        "end_s": failure_s,
        "params": {"lead_h": lead_h},
    }
    tick.state.active_faults.append(record)
    tick.labels.append(label(record, "started"))
    return record


def end_fault(state: SiteState, labels: list[dict], fault_id: int, end_s: float, outcome: str) -> None:
    for i, record in enumerate(state.active_faults):
        if record["fault_id"] == fault_id:
            del state.active_faults[i]
            labels.append(label(record, "ended", end_s=end_s, outcome=outcome))
            return


# Sensor anomalies -------------------------------------------------------------------------------------


def _eligible_units(state: SiteState) -> list[tuple[str, Any]]:
    units: list[tuple[str, Any]] = []
    units += [("truck", u) for u in state.trucks if not u.live]
    units += [("crusher", u) for u in state.crushers if not u.live]
    units += [("stockpile", u) for u in state.stockpiles if not u.live]
    return units


def schedule_next_anomaly(state: SiteState, rng: np.random.Generator, after_s: float) -> None:
    count = len(_eligible_units(state))
    rate_per_s = state.config.anomaly_rate_per_unit_h * count / 3600.0
    state.next_anomaly_s = after_s + float(rng.exponential(1.0 / rate_per_s)) if rate_per_s > 0 else None


def update_anomalies(tick: Tick) -> None:
    """End anomalies whose time is up, then start those that fell due during the step."""
    state = tick.state
    now = tick.clock_s
    for record in [r for r in state.active_faults if r["category"] == "sensor_anomaly" and r["end_s"] <= now]:
        end_fault(state, tick.labels, record["fault_id"], record["end_s"], "ended")
    if state.next_anomaly_s is None:
        if state.config.anomaly_rate_per_unit_h > 0:
            schedule_next_anomaly(state, tick.rng, now)
        return
    while state.next_anomaly_s is not None and state.next_anomaly_s <= now:
        _start_anomaly(tick)
        schedule_next_anomaly(state, tick.rng, state.next_anomaly_s)


def _start_anomaly(tick: Tick) -> None:
    state, rng = tick.state, tick.rng
    busy = {(r["unit_kind"], r["unit_id"]) for r in state.active_faults if r["category"] == "sensor_anomaly"}
    units = [(k, u) for k, u in _eligible_units(state) if (k, u.id) not in busy]
    if not units:
        return
    kind, unit = units[int(rng.integers(len(units)))]
    anomaly = ANOMALY_KINDS[int(rng.integers(len(ANOMALY_KINDS)))]
    fields = ANOMALY_FIELDS[kind]
    sensor = fields[int(rng.integers(len(fields)))]
    scale = ANOMALY_SCALE[sensor] * (unit.capacity_t if sensor == "level_t" else 1.0)
    low, high = ANOMALY_DURATION_MIN[anomaly]
    duration_s = rng.uniform(low, high) * 60.0
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if sensor in UPWARD_ONLY:
        sign = 1.0
    params: dict[str, Any] = {}
    if anomaly == "spike":
        params["offset"] = sign * rng.uniform(6.0, 10.0) * scale
    elif anomaly == "drift":
        params["offset"] = sign * rng.uniform(5.0, 8.0) * scale
    elif anomaly == "noise_burst":
        params["sd"] = rng.uniform(4.0, 6.0) * scale
    start_s = tick.clock_s
    record = {
        "fault_id": tick.new_fault_id(),
        "category": "sensor_anomaly",
        "label": anomaly,
        "unit_kind": kind,
        "unit_id": unit.id,
        "sensors": [sensor],
        "start_s": start_s,
        "end_s": start_s + duration_s,
        "params": params,
    }
    state.active_faults.append(record)
    tick.labels.append(label(record, "started"))


def apply_anomalies(tick: Tick, readings: dict[str, list[dict]]) -> None:
    """Disturb this step's readings by the anomalies in progress."""
    active = [r for r in tick.state.active_faults if r["category"] == "sensor_anomaly"]
    if not active:
        return
    by_unit = {(kind, row["id"]): row for kind, rows in readings.items() for row in rows}
    now = tick.clock_s
    for record in active:
        row = by_unit.get((record["unit_kind"], record["unit_id"]))
        if row is None or now < record["start_s"]:
            continue
        sensor = record["sensors"][0]
        params = record["params"]
        kind = record["label"]
        if kind == "spike":
            row[sensor] += params["offset"]
        elif kind == "drift":
            share = (now - record["start_s"]) / max(record["end_s"] - record["start_s"], 1.0)
            row[sensor] += params["offset"] * share
        elif kind == "stuck":
            if "value" not in params:
                params["value"] = row[sensor]
            row[sensor] = params["value"]
        elif kind == "noise_burst":
            row[sensor] += float(tick.rng.normal(0.0, params["sd"]))
