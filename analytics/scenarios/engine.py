"""What-if scenarios on a copy of a site's engine state: apply changes, run seeds headless, compare.

Pure (no Django): the run (analytics.scenarios.runner, in a Celery task) loads the site's state, calls
`run_scenario` with a checkpoint callback that saves progress and reports a cancel request, and stores the
result. Both the unchanged baseline and the changed site run on the same seeds, so each seed is a paired
comparison: the same failure points, the same draws, up to where the changes make the runs differ. See
docs/scenarios.md.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fleet.dispatch import STRATEGIES, get_dispatcher
from fleet.sim import SiteState, set_operator_status, step
from fleet.sim.faults import sample_failure_wear_h, weibull
from fleet.sim.layout import TRUCK_CLASSES, truck_spec
from fleet.sim.lifecycle import is_down
from fleet.sim.shiftstats import ShiftTally
from fleet.sim.state import NO_FAILURE_WEAR_H, TruckState, new_rng_state, node_name

# --- Limits: every run is bounded, so a scenario cannot tie up a worker for hours (docs/scenarios.md).
MAX_SEEDS = 20
MAX_SHIFT_HOURS = 24.0
MAX_TRUCKS = 500  # in any one run (the engine is benchmarked up to 1,000; a sweep runs many sizes)
MAX_FLEET_SIZES = 12  # points of a fleet-sizing sweep
#: Simulated truck-hours a scenario may ask for in total (runs x trucks x hours): about 10 minutes of one
#: worker on the 2-core reference machine (~0.01 s per truck-hour at dt 10 s).
MAX_TRUCK_HOURS = 60_000.0
DT_S = 10.0  # the benchmark's step: no haul phase (a 40 s spot, a 60 s tip) is skipped over
CHUNK_STEPS = 60  # check for a cancel request and report progress every 10 simulated minutes
#: The figures of a run compared between baseline and scenario (fleet.sim.shiftstats.ShiftTally).
METRICS = ("tonnes", "ore_t", "loads", "queue_min_per_load", "match_factor", "truck_utilisation_pct")

# --- Fleet sizing: when a sweep says the fleet is clearly too big or too small.
PLATEAU_SHARE = 0.02  # fleets within 2 % of the best tonnes are "on the plateau": more trucks only queue
CLEAR_GAIN_SHARE = 0.05  # too small when the smallest fleet on the plateau moves >= 5 % more
CLEAR_EXCESS_SHARE = 0.10  # too big when >= 10 % of the trucks (and >= 2) could go at < 2 % fewer tonnes
CLEAR_EXCESS_TRUCKS = 2

#: Called with the share of the work done (0-1); returns False to stop (a cancel request).
Checkpoint = Callable[[float], bool]


@dataclass(slots=True)
class Changes:
    """What differs from the site as it is. Ids are the site's equipment ids (database keys)."""

    add_trucks: int = 0
    truck_model: str | None = None  # of added trucks; default the most common model in the fleet
    remove_trucks: int = 0  # the highest-numbered trucks leave the fleet
    remove_truck_ids: list[int] = field(default_factory=list)
    loaders_down: list[int] = field(default_factory=list)  # in maintenance for the whole run
    crusher_rated_tph: dict[int, float] = field(default_factory=dict)  # 0: the crusher is down
    dispatch_strategy: str | None = None  # None: the site's own

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Changes:
        """From the JSON stored with a scenario (crusher ids are strings there)."""
        data = dict(data)
        data["crusher_rated_tph"] = {int(k): float(v) for k, v in data.get("crusher_rated_tph", {}).items()}
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["crusher_rated_tph"] = {str(k): v for k, v in self.crusher_rated_tph.items()}
        return out

    def changes_equipment(self) -> bool:
        """Anything but the dispatch strategy changed (the sweep can then reuse the baseline run)."""
        return bool(
            self.add_trucks
            or self.remove_trucks
            or self.remove_truck_ids
            or self.loaders_down
            or self.crusher_rated_tph
        )


@dataclass(slots=True)
class Plan:
    """A scenario ready to run: the changes, the strategies, the shift and the seeds."""

    changes: Changes
    base_strategy: str
    shift_hours: float
    seeds: list[int]
    fleet_sizes: list[int] = field(default_factory=list)  # a fleet-sizing sweep when not empty

    @property
    def strategy(self) -> str:
        return self.changes.dispatch_strategy or self.base_strategy


# --- Validation against the site (the API answers 400 with these messages)


def truck_models(state: SiteState) -> set[str]:
    """Truck models that can be added: those in the fleet and the engine's standard classes."""
    return {truck.model for truck in state.trucks} | {cls.model for cls in TRUCK_CLASSES}


def problems(state: SiteState, plan: Plan) -> dict[str, list[str]]:
    """What is wrong with `plan` on this site, by request field; empty when it can run."""
    found: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        found.setdefault(name, []).append(message)

    changes = plan.changes
    trucks = {truck.id for truck in state.trucks}
    loaders = {loader.id for loader in state.loaders}
    crushers = {crusher.id for crusher in state.crushers}
    for index, truck_id in enumerate(changes.remove_truck_ids):
        if truck_id not in trucks:
            add(f"changes.remove_truck_ids.{index}", f"no truck with id {truck_id} on this site")
    for index, loader_id in enumerate(changes.loaders_down):
        if loader_id not in loaders:
            known = ", ".join(str(i) for i in sorted(loaders))
            add(
                f"changes.loaders_down.{index}",
                f"no loader with id {loader_id} on this site (loaders: {known})",
            )
    if loaders and set(changes.loaders_down) >= loaders:
        add("changes.loaders_down", "at least one loader must stay in service")
    for crusher_id in changes.crusher_rated_tph:
        if crusher_id not in crushers:
            add("changes.crusher_capacity", f"no crusher with id {crusher_id} on this site")
    if changes.truck_model is not None and changes.truck_model not in truck_models(state):
        add("changes.truck_model", f"unknown truck model {changes.truck_model!r}")
    if changes.dispatch_strategy is not None and changes.dispatch_strategy not in STRATEGIES:
        add("changes.dispatch_strategy", f"unknown dispatch strategy {changes.dispatch_strategy!r}")
    fleet = (
        len(state.trucks) + changes.add_trucks - changes.remove_trucks - len(set(changes.remove_truck_ids))
    )
    if fleet < 1:
        add("changes", f"the site has {len(state.trucks)} trucks: at least one must stay")
    if fleet > MAX_TRUCKS:
        add("changes.add_trucks", f"at most {MAX_TRUCKS} trucks in a run; this makes {fleet}")
    if plan.fleet_sizes and (changes.add_trucks or changes.remove_trucks or changes.remove_truck_ids):
        add("fleet_sizes", "a sweep sets the number of trucks itself: leave out adding and removing trucks")
    truck_hours = sum(run_sizes(state, plan)) * plan.shift_hours * len(plan.seeds)
    if truck_hours > MAX_TRUCK_HOURS:  # the budget: named on each field that spends it
        spenders = ["seeds", "shift_hours"]
        if plan.fleet_sizes or changes.add_trucks:
            spenders.append("fleet_sizes" if plan.fleet_sizes else "changes.add_trucks")
        for field in spenders:
            add(
                field,
                f"this asks for {truck_hours:,.0f} simulated truck-hours (runs x trucks x hours); the "
                f"budget is {MAX_TRUCK_HOURS:,.0f} (fewer seeds, a shorter shift, fewer trucks or sizes)",
            )
    return found


def run_sizes(state: SiteState, plan: Plan) -> list[int]:
    """Trucks in each run of one seed: the baseline, then the scenario or each size of the sweep."""
    current = len(state.trucks)
    if plan.fleet_sizes:
        return [current, *sweep_sizes(current, plan.fleet_sizes)]
    changes = plan.changes
    return [
        current,
        current + changes.add_trucks - changes.remove_trucks - len(set(changes.remove_truck_ids)),
    ]


def sweep_sizes(current: int, fleet_sizes: Iterable[int]) -> list[int]:
    """The sweep always includes the current fleet, the point its verdict is about."""
    return sorted({current, *fleet_sizes})


# --- Changing a copy of the state


def apply_changes(state: SiteState, changes: Changes, *, fleet_size: int | None = None) -> SiteState:
    """A changed copy of `state`; with `fleet_size`, trucks are then added or removed to make that many.

    Every unit is simulated in a scenario, including those fed by real telemetry on the live site.
    """
    site = state.copy()
    for unit in (*site.trucks, *site.loaders, *site.crushers, *site.stockpiles, *site.dumps):
        unit.live = False
    gone = set(changes.remove_truck_ids)
    by_id_desc = sorted((t.id for t in site.trucks if t.id not in gone), reverse=True)
    gone.update(by_id_desc[: changes.remove_trucks])
    _remove_trucks(site, gone)
    _add_trucks(site, changes.add_trucks, changes.truck_model)
    if fleet_size is not None:
        current = len(site.trucks)
        if fleet_size > current:
            _add_trucks(site, fleet_size - current, changes.truck_model)
        elif fleet_size < current:
            _remove_trucks(
                site, set(sorted((t.id for t in site.trucks), reverse=True)[: current - fleet_size])
            )
    for loader_id in changes.loaders_down:
        set_operator_status(site, "loader", loader_id, "maintenance")
    for crusher_id, rated_tph in changes.crusher_rated_tph.items():
        if rated_tph > 0:
            next(c for c in site.crushers if c.id == crusher_id).rated_tph = rated_tph
        else:  # no capacity: the crusher is down for the run
            set_operator_status(site, "crusher", crusher_id, "maintenance")
    return site


def _remove_trucks(site: SiteState, truck_ids: set[int]) -> None:
    """Out of every queue first (as for maintenance), then out of the state."""
    for truck_id in sorted(truck_ids):
        set_operator_status(site, "truck", truck_id, "maintenance")
    site.trucks = [truck for truck in site.trucks if truck.id not in truck_ids]


def _add_trucks(site: SiteState, count: int, model: str | None) -> None:
    """New trucks of `model`, waiting for dispatch at the loading faces in turn (as a new site starts)."""
    if count <= 0:
        return
    if model is None:
        model = Counter(t.model for t in site.trucks).most_common(1)[0][0] if site.trucks else None
    template = next((t for t in site.trucks if t.model == model), None) or next(
        (cls for cls in TRUCK_CLASSES if cls.model == model), TRUCK_CLASSES[0]
    )
    spec = truck_spec(template)
    zones = {zone.id: zone for zone in site.zones}
    faces = [loader for loader in site.loaders if not is_down("loader", loader)] or site.loaders
    next_id = max((t.id for t in site.trucks), default=0) + 1
    for i in range(count):
        loader = faces[i % len(faces)]
        zone = zones.get(loader.zone_id)
        site.trucks.append(
            TruckState(
                id=next_id + i,
                name=f"HT-new-{i + 1:02d}",
                **spec,
                lat=zone.lat if zone else loader.lat,
                lon=zone.lon if zone else loader.lon,
                fuel_l=0.9 * spec["fuel_tank_l"],
                tyre_pressure_kpa=spec["cold_tyre_pressure_kpa"] * 1.05,
                node=node_name("zone", loader.zone_id),
                failure_wear_h=NO_FAILURE_WEAR_H,  # drawn per seed by reseed()
            )
        )


_UNIT_KINDS = {"truck": 1, "loader": 2, "crusher": 3}


def reseed(state: SiteState, seed: int) -> None:
    """Give the run its own random draws for `seed`, in place.

    The engine RNG restarts from the seed, and each unit in service draws its next failure point from a
    generator of its own (seed, kind, id): the same truck fails at the same wear in the baseline and the
    scenario however many trucks are added, so differences come from the changes, not from reshuffled luck.
    """
    state.rng_state = new_rng_state(seed)
    for kind, units in (("truck", state.trucks), ("loader", state.loaders), ("crusher", state.crushers)):
        shape, scale_h = weibull(state.config, kind)
        for unit in units:
            rng = np.random.default_rng([seed, _UNIT_KINDS[kind], unit.id])
            if unit.fault is None and not is_down(kind, unit):
                unit.failure_wear_h = sample_failure_wear_h(rng, shape, scale_h, unit.wear_h)
            if kind == "crusher":
                unit.next_blockage_h = float(rng.exponential(state.config.crusher_blockage_mean_h))


# --- Running


class Stopped(Exception):
    """The checkpoint asked to stop (the scenario was cancelled)."""


def run_shift(
    state: SiteState, strategy: str, shift_hours: float, checkpoint: Callable[[float], None]
) -> dict[str, float]:
    """One headless shift of `state` (advanced in place) with a fresh dispatcher; the shift's figures.

    `checkpoint(share_of_this_run_done)` is called every CHUNK_STEPS steps and may raise Stopped.
    """
    dispatcher = get_dispatcher(strategy)
    tally = ShiftTally()
    steps = max(1, round(shift_hours * 3600.0 / DT_S))
    for n in range(steps):
        tally.observe(state, step(state, DT_S, dispatcher), DT_S)
        if (n + 1) % CHUNK_STEPS == 0 and n + 1 < steps:
            checkpoint((n + 1) / steps)
    return tally.figures()


def run_scenario(base: SiteState, plan: Plan, checkpoint: Checkpoint) -> dict[str, Any]:
    """Run the baseline and the scenario (or each fleet size) on every seed; the stored results.

    Seeds are whole units of work: a cancel request stops the run at the next chunk and the results keep
    the seeds already finished (`complete` false), so a long scenario cancelled late still says something.
    """
    sizes = sweep_sizes(len(base.trucks), plan.fleet_sizes) if plan.fleet_sizes else []
    runs_per_seed = 1 + (len(sizes) if sizes else 1)
    total_runs = runs_per_seed * len(plan.seeds)
    done_runs = 0

    def at(share_of_run: float) -> None:
        if not checkpoint((done_runs + share_of_run) / total_runs):
            raise Stopped

    def run(state: SiteState, strategy: str, seed: int) -> dict[str, float]:
        nonlocal done_runs
        at(0.0)  # between runs, so between seeds: a cancel here loses no finished work
        reseed(state, seed)
        figures = run_shift(state, strategy, plan.shift_hours, at)
        done_runs += 1
        return {"seed": seed, "trucks": len(state.trucks), **figures}

    baseline_runs: list[dict] = []
    scenario_runs: list[dict] = []
    sweep_runs: dict[int, list[dict]] = {size: [] for size in sizes}
    complete = True
    try:
        for seed in plan.seeds:
            baseline = run(base.copy(), plan.base_strategy, seed)
            if sizes:
                points = {}
                for size in sizes:
                    unchanged = not plan.changes.changes_equipment() and plan.strategy == plan.base_strategy
                    if size == len(base.trucks) and unchanged:
                        points[size] = baseline
                        done_runs += 1
                        continue
                    points[size] = run(
                        apply_changes(base, plan.changes, fleet_size=size), plan.strategy, seed
                    )
                for size, figures in points.items():
                    sweep_runs[size].append(figures)
            else:
                scenario_runs.append(run(apply_changes(base, plan.changes), plan.strategy, seed))
            baseline_runs.append(baseline)
    except Stopped:
        complete = False
        # A seed stopped half-way has no pair: keep only seeds with every run finished.
        finished = len(baseline_runs)
        scenario_runs = scenario_runs[:finished]
        sweep_runs = {size: runs[:finished] for size, runs in sweep_runs.items()}
    results: dict[str, Any] = {
        "complete": complete,
        "seeds": [run["seed"] for run in baseline_runs],
        "shift_hours": plan.shift_hours,
        "dt_s": DT_S,
        "baseline": summarise(baseline_runs, plan.base_strategy),
    }
    if sizes:
        results["fleet_sizing"] = fleet_sizing(baseline_runs, sweep_runs, current_trucks=len(base.trucks))
    else:
        results["scenario"] = summarise(scenario_runs, plan.strategy)
        results["difference"] = difference(baseline_runs, scenario_runs)
    return json_safe(results)


# --- Aggregating


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _mean(values: Iterable[float]) -> float | None:
    finite = _finite(values)
    return statistics.fmean(finite) if finite else None


def _std(values: Iterable[float]) -> float | None:
    finite = _finite(values)
    return statistics.stdev(finite) if len(finite) > 1 else (0.0 if finite else None)


def summarise(runs: list[dict], strategy: str) -> dict[str, Any]:
    """Per seed and over seeds (mean, standard deviation, min, max) for each figure."""
    return {
        "strategy": strategy,
        "trucks": runs[0]["trucks"] if runs else None,
        "per_seed": runs,
        "aggregate": {
            metric: {
                "mean": _mean(r[metric] for r in runs),
                "std": _std(r[metric] for r in runs),
                "min": min(_finite(r[metric] for r in runs), default=None),
                "max": max(_finite(r[metric] for r in runs), default=None),
            }
            for metric in METRICS
        },
    }


def difference(baseline: list[dict], scenario: list[dict]) -> dict[str, Any]:
    """Scenario minus baseline, seed by seed (the same seeds), and in % of the baseline mean."""
    out: dict[str, Any] = {}
    for metric in METRICS:
        per_seed = [s[metric] - b[metric] for b, s in zip(baseline, scenario, strict=True)]
        base_mean, mean = _mean(b[metric] for b in baseline), _mean(per_seed)
        out[metric] = {
            "mean": mean,
            "pct": 100.0 * mean / base_mean if mean is not None and base_mean else None,
            "per_seed": per_seed,
            "seeds_higher": sum(1 for d in per_seed if d > 0),
        }
    return out


def fleet_sizing(
    baseline: list[dict], sweep: dict[int, list[dict]], *, current_trucks: int
) -> dict[str, Any]:
    """The production and match-factor curve over fleet sizes, and whether the fleet is clearly off."""
    base_tonnes = _mean(b["tonnes"] for b in baseline)
    curve = []
    for size, runs in sorted(sweep.items()):
        tonnes = _mean(r["tonnes"] for r in runs)
        curve.append(
            {
                "trucks": size,
                "tonnes_mean": tonnes,
                "tonnes_std": _std(r["tonnes"] for r in runs),
                "match_factor": _mean(r["match_factor"] for r in runs),
                "queue_min_per_load": _mean(r["queue_min_per_load"] for r in runs),
                "truck_utilisation_pct": _mean(r["truck_utilisation_pct"] for r in runs),
                "tonnes_vs_baseline_pct": 100.0 * (tonnes / base_tonnes - 1.0)
                if tonnes is not None and base_tonnes
                else None,
            }
        )
    return {"current_trucks": current_trucks, "curve": curve, **fleet_verdict(curve, current_trucks)}


def fleet_verdict(curve: list[dict], current_trucks: int) -> dict[str, Any]:
    """`too_small`, `too_big` or `about_right`, the fleet to recommend and a sentence saying why.

    The smallest fleet within PLATEAU_SHARE of the best tonnes is enough: beyond it trucks only queue.
    The current fleet is clearly too small when that fleet moves CLEAR_GAIN_SHARE more, clearly too big
    when CLEAR_EXCESS_SHARE of its trucks (and at least CLEAR_EXCESS_TRUCKS) are beyond it.
    """
    points = [p for p in curve if p["tonnes_mean"] is not None]
    current = next((p for p in points if p["trucks"] == current_trucks), None)
    if not points or current is None:
        return {"verdict": "unknown", "recommended_trucks": None, "message": "no tonnes measured"}
    best = max(p["tonnes_mean"] for p in points)
    enough = min(
        (p for p in points if p["tonnes_mean"] >= (1.0 - PLATEAU_SHARE) * best), key=lambda p: p["trucks"]
    )
    gain = enough["tonnes_mean"] / current["tonnes_mean"] - 1.0 if current["tonnes_mean"] else math.inf
    excess = current_trucks - enough["trucks"]
    if enough["trucks"] > current_trucks and gain >= CLEAR_GAIN_SHARE:
        verdict = "too_small"
        message = (
            f"{enough['trucks']} trucks instead of {current_trucks} would move {100 * gain:.0f} % more "
            f"({enough['tonnes_mean']:,.0f} t against {current['tonnes_mean']:,.0f} t a shift); "
            f"match factor {_fmt(current['match_factor'])} now, {_fmt(enough['match_factor'])} then"
        )
    elif excess >= max(CLEAR_EXCESS_TRUCKS, CLEAR_EXCESS_SHARE * current_trucks):
        verdict = "too_big"
        message = (
            f"{enough['trucks']} trucks move within {100 * PLATEAU_SHARE:.0f} % of the tonnes of "
            f"{current_trucks}: {excess} trucks mostly queue (match factor {_fmt(current['match_factor'])}, "
            f"{_fmt(current['queue_min_per_load'])} min queueing per load)"
        )
    else:
        verdict = "about_right"
        message = f"{current_trucks} trucks are near the smallest fleet that reaches the best tonnes"
    return {"verdict": verdict, "recommended_trucks": enough["trucks"], "message": message}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def json_safe(value: Any) -> Any:
    """NaN and infinities become None: PostgreSQL's jsonb (and JSON itself) has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
