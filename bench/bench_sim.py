"""Benchmark: the pure engine's step time (no database) for the default site and a 1,000-truck site.

Usage: `python -m bench.bench_sim [--quick]`, or import and call run().
"""

from __future__ import annotations

import argparse
import time

from bench.common import stats
from fleet.sim import SiteState, default_site, step

BIG = {"trucks": 1000, "loaders": 50, "crushers": 20, "stockpiles": 50}


def time_steps(state: SiteState, dt_s: float, steps: int, warmup: int) -> list[float]:
    """Seconds per step after `warmup` steps (past the start, when every truck waits for its first load)."""
    for _ in range(warmup):
        step(state, dt_s)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step(state, dt_s)
        times.append(time.perf_counter() - started)
    return times


def _row(metric: str, values_s: list[float], goal: str | None = None, limit_s: float | None = None) -> dict:
    figures = {key: value * 1000 for key, value in stats(values_s).items()}
    met = None if limit_s is None else figures["median"] < limit_s * 1000
    return {"metric": metric, **figures, "unit": "ms", "goal": goal, "met": met}


def run(quick: bool = False) -> dict:
    repeats = 50 if quick else 200
    rows = [
        _row(
            "engine step, default site, dt 5 s",
            time_steps(default_site(), 5.0, repeats, 60),
            "< 10 ms",
            0.010,
        ),
        _row(
            "engine step, 1,000 trucks/50 loaders/20 crushers/50 stockpiles, dt 5 s",
            time_steps(default_site(**BIG), 5.0, max(10, repeats // 10), 60),
            "< 200 ms",
            0.200,
        ),
    ]
    site = default_site()
    started = time.perf_counter()
    for _ in range(8640):
        step(site, 10.0)
    day_s = time.perf_counter() - started
    rows.append(
        {"metric": "engine only: 24 h of the default site at dt 10 s", "median": day_s,
         "min": None, "max": None, "unit": "s", "goal": None, "met": None}
    )  # fmt: skip
    big = default_site(**BIG)
    round_trips = []
    for _ in range(5):
        started = time.perf_counter()
        SiteState.from_dict(big.to_dict())
        round_trips.append(time.perf_counter() - started)
    rows.append(_row("state to_dict + from_dict, 1,000-truck site", round_trips))
    return {"rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    from bench.__main__ import print_table

    print_table("engine", run(quick=parser.parse_args().quick)["rows"])
