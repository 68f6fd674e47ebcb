"""Benchmark: a full simulation tick (load, step, persist, broadcast) at growing site sizes.

Runs in its own database (created, migrated and dropped here) against the real PostgreSQL and Redis.
Goals (the simulator issue): default site (22 units) full tick < 50 ms; 1,000 trucks / 50 loaders /
20 crushers / 50 stockpiles: p95 < 1 s; `simulate` a 24 h day of the default site in under a minute.
`--drift TICKS`: the 1,000-truck site ticked back to back, each phase's mean per block of 300 ticks, to
tell a cost that grows with the history from a machine that got busier (the soak's persist goal).
Usage: `python -m bench.bench_tick [--quick] [--drift 1800]`, or import and call run() or drift().
"""

from __future__ import annotations

import argparse
import io
import time

from bench.common import BenchDatabase, percentile, setup_django, stats

#: (label, trucks, loaders, crushers, stockpiles); units = trucks + crushers + stockpiles (+ loaders).
SIZES = [
    ("22 units (default site)", 15, None, 3, 4),
    ("100 units", 80, 20, 8, 12),
    ("1,000 trucks/50 loaders/20 crushers/50 stockpiles", 1000, 50, 20, 50),
    ("5,000 units", 4400, 200, 150, 250),
]
GOALS_S = {
    SIZES[0][0]: ("total median < 50 ms", 0.050, "median"),
    SIZES[2][0]: ("total p95 < 500 ms", 0.5, "p95"),
}
#: The phases of a tick in the order they run; "load.state" and "persist.*" are parts of load and persist.
PHASES = ["load", "load.state", "step", "persist", "persist.readings", "persist.units", "persist.events",
          "persist.history", "persist.hooks", "persist.state", "broadcast", "after_commit",
          "total"]  # fmt: skip


def _measure(site_id: int, ticks: int, *, cold: bool = False) -> dict[str, list[float]]:
    """Tick timings by phase; `cold`: every tick parses the state from the row, as after another worker's."""
    from fleet import state_cache
    from fleet.ticking import tick_site

    for _ in range(3):  # warm up past the first assignments
        tick_site(site_id, dt_s=5.0)
    phases: dict[str, list[float]] = {}
    for _ in range(ticks):
        if cold:
            state_cache.forget()
        outcome = tick_site(site_id, dt_s=5.0)
        for phase, seconds in outcome.timings_s.items():
            phases.setdefault(phase, []).append(seconds)
    return phases


def _simulate_day() -> float:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("simulate", site="Simulate bench", hours=24, seed=7, stdout=io.StringIO())
    return time.perf_counter() - started


def run(quick: bool = False) -> dict:
    setup_django()
    from django.core.management import call_command

    from fleet import seeding

    sizes = SIZES[:3] if quick else SIZES
    rows, curve = [], []
    with BenchDatabase():
        call_command("migrate", verbosity=0)
        for label, trucks, loaders, crushers, stockpiles in sizes:
            site = seeding.seed_site(
                name=label, trucks=trucks, loaders=loaders, crushers=crushers, stockpiles=stockpiles
            ).site
            ticks = 5 if trucks >= 4000 else (10 if quick else 30)
            phases = _measure(site.pk, ticks)
            curve.append(
                {"size": label, **{phase: stats(values)["median"] for phase, values in phases.items()}}
            )
            if trucks == 1000:
                cold = _measure(site.pk, ticks, cold=True)
                for phase in ("load.state", "total"):
                    figures = {k: v * 1000 for k, v in stats(cold[phase]).items()}
                    rows.append({"metric": f"tick {phase}, state parsed from the row: {label}", **figures,
                                 "unit": "ms", "goal": None, "met": None})  # fmt: skip
            for phase in (phase for phase in PHASES if phase in phases):
                figures = stats(phases[phase])
                row = {"metric": f"tick {phase}: {label}", **{k: v * 1000 for k, v in figures.items()}}
                row.update(unit="ms", goal=None, met=None)
                if phase == "total" and label in GOALS_S:
                    goal, limit_s, measure = GOALS_S[label]
                    value = percentile(phases[phase], 0.95) if measure == "p95" else figures["median"]
                    row.update(goal=goal, met=value < limit_s)
                    if measure == "p95":
                        rows.append({**row, "metric": f"tick total p95: {label}", "median": value * 1000})
                        continue
                rows.append(row)
        day_s = _simulate_day()
        rows.append(
            {"metric": "simulate 24 h of the default site", "median": day_s, "min": None, "max": None,
             "unit": "s", "goal": "< 60 s", "met": day_s < 60}
        )  # fmt: skip
    return {"rows": rows, "curve": curve}


def drift(ticks: int = 1800, block: int = 300) -> dict:
    """Does a tick's cost grow with the history it writes? The 1,000-truck site ticked back to back (one
    simulated second a tick, as the soak's 1 Hz) with nothing else running, the mean of each phase per block
    of ticks; `last / first` compares the last block with the first (the soak's persist goal: <= 1.10)."""
    setup_django()
    from django.core.management import call_command

    from fleet import seeding
    from fleet.ticking import tick_site

    label, trucks, loaders, crushers, stockpiles = SIZES[2]
    blocks: list[dict[str, float]] = []
    with BenchDatabase():
        call_command("migrate", verbosity=0)
        site = seeding.seed_site(
            name=label, trucks=trucks, loaders=loaders, crushers=crushers, stockpiles=stockpiles
        ).site
        phases: dict[str, list[float]] = {}
        for done in range(1, ticks + 1):
            for phase, seconds in tick_site(site.pk, dt_s=1.0).timings_s.items():
                phases.setdefault(phase, []).append(seconds * 1000)
            if done % block == 0:
                means = {phase: sum(values[-block:]) / block for phase, values in phases.items()}
                blocks.append({"ticks": done, **means})
                parts = ", ".join(f"{phase} {means[phase]:.1f}" for phase in PHASES if phase in means)
                print(f"ticks {done - block + 1}-{done}: {parts} ms", flush=True)
    ratios = {phase: blocks[-1][phase] / blocks[0][phase] for phase in PHASES if blocks[0].get(phase)}
    return {"blocks": blocks, "last / first": ratios}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--drift", type=int, metavar="TICKS", help="only the drift check: TICKS ticks at 1,000 trucks"
    )
    arguments = parser.parse_args()
    from bench.__main__ import print_table

    if arguments.drift:
        result = drift(arguments.drift)
        print("last / first block: " + ", ".join(f"{k} {v:.2f}" for k, v in result["last / first"].items()))
    else:
        print_table("ticks", run(quick=arguments.quick)["rows"])
