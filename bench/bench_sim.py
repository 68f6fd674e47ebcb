"""Step time of the simulation engine: the default site and a 1,000-truck site.

Run: .venv/bin/python bench/bench_sim.py [--repeats N]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from fleet.sim import default_site, step
from fleet.sim.state import SiteState


def time_steps(state: SiteState, dt_s: float, steps: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        step(state, dt_s)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(state, dt_s)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times_s: list[float]) -> None:
    ms = [t * 1000 for t in times_s]
    print(f"{label:<60} median {statistics.median(ms):8.3f} ms   min {min(ms):8.3f}   max {max(ms):8.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="timed steps per case")
    args = parser.parse_args()
    cases = [
        ("default site, dt 5 s", default_site(), 5.0, args.repeats),
        ("default site, dt 10 s", default_site(), 10.0, args.repeats),
        (
            "1,000 trucks/50 loaders/20 crushers/50 stockpiles, dt 5 s",
            default_site(trucks=1000, loaders=50, crushers=20, stockpiles=50),
            5.0,
            max(10, args.repeats // 10),
        ),
        (
            "1,000 trucks/50 loaders/20 crushers/50 stockpiles, dt 10 s",
            default_site(trucks=1000, loaders=50, crushers=20, stockpiles=50),
            10.0,
            max(10, args.repeats // 10),
        ),
    ]
    for label, state, dt_s, repeats in cases:
        # Warm up past the start, when every truck is waiting for its first assignment.
        report(label, time_steps(state, dt_s, repeats, warmup=60))
    site = default_site()
    start = time.perf_counter()
    for _ in range(8640):
        step(site, 10.0)
    print(f"{'default site, 24 h simulated at dt 10 s':<60} total  {time.perf_counter() - start:8.2f} s")
    big = default_site(trucks=1000, loaders=50, crushers=20, stockpiles=50)
    start = time.perf_counter()
    text = SiteState.from_dict(big.to_dict())
    print(f"{'1,000-truck to_dict + from_dict':<60} total  {(time.perf_counter() - start) * 1000:8.1f} ms")
    del text


if __name__ == "__main__":
    main()
