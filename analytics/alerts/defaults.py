"""The alarm rules a new installation starts with (seeded by migration 0010; operators change them in admin).

Pure data. Limits sit between the simulator's normal running and its developing faults (fleet/sim/faults.py:
a failing engine runs ~20 degC hotter, a damaged tyre ~150 kPa softer), and the stockpile limits match the
simulator's own full/empty hysteresis (fleet/sim/stockpile.py), so an alarm and the event it stands for
start and end on the same step. Severities map to ISA-18.2 priorities: critical = high, warning = medium,
info = low (docs/alarms.md).
"""

from __future__ import annotations

from typing import Any

FULL = (
    "Operator action: the pile is at its limit switch and the crusher feeding it will block. Raise the "
    "reclaim rate, divert trucks to another crusher or to the ROM pad."
)

DEFAULT_RULES: list[dict[str, Any]] = [
    # Equipment state
    dict(code="truck_breakdown", kind="equipment_state", unit_kind="truck", field="status", comparison="in",
         states="broken_down", severity="critical", name="Truck broken down",
         explanation="The truck stopped with an unplanned failure; its loads are missing from the plan.",
         operator_action="Call maintenance to the truck, make sure dispatch has re-routed its cycle."),
    dict(code="loader_breakdown", kind="equipment_state", unit_kind="loader", field="status",
         comparison="in", states="broken_down", severity="critical", name="Loader broken down",
         explanation="The loader stopped with an unplanned failure: its trucks queue or wait.",
         operator_action="Call maintenance; send the loader's trucks to another face."),
    dict(code="crusher_breakdown", kind="equipment_state", unit_kind="crusher", field="status",
         comparison="in", states="broken_down", severity="critical", name="Crusher broken down",
         explanation="The crusher stopped with an unplanned failure: haul trucks bound for it will queue.",
         operator_action="Call maintenance; divert ore trucks to another crusher or the ROM pad."),
    dict(code="crusher_blocked", kind="equipment_state", unit_kind="crusher", field="status",
         comparison="in", states="blocked", severity="critical", off_delay_s=30, name="Crusher blocked",
         explanation="The crusher cannot pass material on: its product pile is full or its chamber is "
         "blocked.",
         operator_action="Check the product pile's level and reclaim; if the pile is not full, clear the "
         "chamber."),
    dict(code="crusher_starved", kind="equipment_state", unit_kind="crusher", field="status",
         comparison="in", states="idle", severity="info", on_delay_s=900, off_delay_s=60,
         name="Crusher starved for 15 min",
         explanation="The crusher has had an empty feed bin for 15 minutes: throughput is lost.",
         operator_action="Check the trucks assigned to it; re-balance dispatch toward this crusher."),
    # Sensor thresholds
    dict(code="truck_engine_hot", kind="sensor_threshold", unit_kind="truck", field="engine_temp_c",
         comparison=">=", limit=108, deadband=3, on_delay_s=60, off_delay_s=60, severity="warning",
         name="Engine temperature high",
         explanation="Coolant above 108 degC: a cooling fault or bearing wear is developing.",
         operator_action="Tell the driver to run light; book the truck into the workshop at shift change."),
    dict(code="truck_tyre_low", kind="sensor_threshold", unit_kind="truck", field="tyre_pressure_kpa",
         comparison="<=", limit=560, deadband=15, on_delay_s=120, off_delay_s=60, severity="warning",
         name="Tyre pressure low", explanation="Mean tyre pressure below 560 kPa: a tyre is damaged.",
         operator_action="Stop the truck at a safe bay and have the tyre inspected before it fails."),
    dict(code="truck_vibration_high", kind="sensor_threshold", unit_kind="truck", field="vibration_mm_s",
         comparison=">=", limit=11, deadband=1, on_delay_s=120, off_delay_s=60, severity="warning",
         name="Drivetrain vibration high",
         explanation="Drivetrain vibration above 11 mm/s RMS: bearing wear is developing.",
         operator_action="Reduce the truck's speed; schedule a drivetrain inspection."),
    dict(code="truck_fuel_low", kind="sensor_threshold", unit_kind="truck", field="fuel_pct", comparison="<=",
         limit=8, deadband=2, on_delay_s=60, off_delay_s=0, severity="warning",
         name="Fuel low (refuelling overdue)",
         explanation="Below 8 % of the tank: dispatch sends trucks to refuel at 20 %, so this one is overdue.",
         operator_action="Send the truck to the fuel bay now."),
    dict(code="crusher_bearing_hot", kind="sensor_threshold", unit_kind="crusher", field="temperature_c",
         comparison=">=", limit=80, deadband=3, on_delay_s=120, off_delay_s=60, severity="warning",
         name="Crusher bearing temperature high",
         explanation="Bearing above 80 degC: bearing wear or a motor fault is developing.",
         operator_action="Check lubrication; plan a stop to inspect the bearing."),
    dict(code="crusher_vibration_high", kind="sensor_threshold", unit_kind="crusher", field="vibration_mm_s",
         comparison=">=", limit=9, deadband=1, on_delay_s=120, off_delay_s=60, severity="warning",
         name="Crusher vibration high",
         explanation="Frame vibration above 9 mm/s RMS: bearing wear is developing.",
         operator_action="Plan a stop to inspect the crusher's bearings."),
    dict(code="crusher_liner_worn", kind="sensor_threshold", unit_kind="crusher", field="liner_wear_pct",
         comparison=">=", limit=90, deadband=5, severity="info", name="Crusher liner worn",
         explanation="Liner wear above 90 %: throughput and product size suffer until it is changed.",
         operator_action="Schedule the liner change in the next planned stop."),
    # Stockpile levels: high-high and low-low match the simulator's full and empty states.
    dict(code="stockpile_high_high", kind="stockpile_level", unit_kind="stockpile", field="utilisation_pct",
         comparison=">=", limit=99.9, deadband=0.9, severity="critical", name="Stockpile full (high-high)",
         explanation="The pile is full: its crusher blocks behind it.", operator_action=FULL),
    dict(code="stockpile_high", kind="stockpile_level", unit_kind="stockpile", field="utilisation_pct",
         comparison=">=", limit=95, deadband=3, on_delay_s=60, off_delay_s=60, severity="info",
         name="Stockpile high",
         explanation="The pile is above 95 %: it will be full soon at the current fill and reclaim rates.",
         operator_action="Raise the reclaim rate or plan to divert trucks before it is full."),
    dict(code="stockpile_low", kind="stockpile_level", unit_kind="stockpile", field="utilisation_pct",
         comparison="<=", limit=5, deadband=3, on_delay_s=60, off_delay_s=60, severity="info",
         name="Stockpile low",
         explanation="The pile is below 5 %: the plant it feeds will run out at the current reclaim rate.",
         operator_action="Lower the reclaim rate or send more trucks to the crusher that feeds it."),
    dict(code="stockpile_low_low", kind="stockpile_level", unit_kind="stockpile", field="utilisation_pct",
         comparison="<=", limit=0.002, deadband=0.498, severity="critical", name="Stockpile empty (low-low)",
         explanation="The pile is empty: the plant it feeds is starved.",
         operator_action="Stop reclaim; send ore trucks to the crusher that feeds this pile."),
    # Haul KPIs
    dict(code="loader_queue_long", kind="queue", unit_kind="loader", field="queue_length", comparison=">=",
         limit=4, on_delay_s=300, severity="warning", name="Long queue at a loader",
         explanation="Four or more trucks have queued at the loader for 5 minutes: trucks stand idle.",
         operator_action="Re-balance dispatch: send trucks to another face, or park the surplus."),
    dict(code="crusher_queue_long", kind="queue", unit_kind="crusher", field="queue_length", comparison=">=",
         limit=5, on_delay_s=300, severity="warning", name="Long queue at a crusher",
         explanation="Five or more trucks have queued at the crusher for 5 minutes.",
         operator_action="Check the crusher and its pile; divert ore to another crusher or the ROM pad."),
    # Telemetry silence of live units
    *[
        dict(code=f"{kind}_silent", kind="silence", unit_kind=kind, field="silence_s", comparison=">=",
             limit=120, severity="warning", name=f"Live {kind} silent",
             explanation=f"A {kind} fed by real telemetry has sent nothing for 2 minutes: the twin shows "
             "stale values for it.",
             operator_action="Check the unit's gateway and radio link; call the unit if it is working.")
        for kind in ("truck", "crusher", "stockpile")
    ],
    # ML results
    dict(code="truck_failure_risk", kind="ml_risk", unit_kind="truck", field="risk", comparison=">=",
         limit=0.8, deadband=0.1, severity="warning", name="Truck failure risk high",
         explanation="The failure-risk model gives this truck 80 % or more of breaking down soon.",
         operator_action="Book the truck into the workshop before its next long haul."),
    dict(code="truck_sensor_anomaly", kind="anomaly", unit_kind="truck", field="score", comparison=">=",
         limit=1.0, severity="warning", name="Truck sensor anomaly",
         explanation="The anomaly model finds the truck's readings unlike its normal running.",
         operator_action="Check the flagged sensors with the driver; a failing sensor is a job for the "
         "electricians."),
]  # fmt: skip
