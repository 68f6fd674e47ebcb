"""The soak's figures for telling a slower machine from a tick that grows with its history: CPU use per window
(bench.soak_analysis.cpu_shares_first_last), per process (bench.soak_processes.total_cpu_s) and persist over
step (bench.soak_report.speed_check)."""

import os
import subprocess
import sys

from bench.soak_analysis import cpu_shares_first_last
from bench.soak_processes import total_cpu_s
from bench.soak_report import speed_check


def test_persist_that_moves_with_the_step_is_the_machine_and_not_the_history():
    slower_machine = {"first": {"persist": 140.0, "step": 11.0}, "last": {"persist": 168.0, "step": 13.2}}
    growing_persist = {"first": {"persist": 140.0, "step": 11.0}, "last": {"persist": 168.0, "step": 11.0}}

    assert speed_check(slower_machine).endswith("ratio 1.00")
    assert speed_check(growing_persist).endswith("ratio 1.20")
    assert speed_check({"first": {}, "last": {}}) == "-"


def test_cpu_use_is_taken_over_the_first_and_the_last_window_only():
    # daphne uses half a core for the first 300 s, then a whole core; the machine's idle time falls with it.
    samples = []
    daphne = idle = 0.0
    for t in range(0, 1810, 10):
        samples.append({"t_s": float(t), "cpu_s": {"daphne": daphne, "machine-idle": idle}})
        daphne += 5.0 if t < 300 else 10.0
        idle += 15.0 if t < 300 else 10.0

    shares = cpu_shares_first_last(samples, 1800.0, 300.0)

    assert round(shares["first"]["daphne"]) == 50 and round(shares["last"]["daphne"]) == 100
    assert round(shares["first"]["machine-idle"]) == 150 and round(shares["last"]["machine-idle"]) == 100


def test_cpu_used_by_a_child_that_has_exited_still_counts():
    """PostgreSQL's backends and pool children end and are reaped: their time must not drop out."""
    before = total_cpu_s([os.getpid()])
    subprocess.run([sys.executable, "-c", "sum(range(20_000_000))"], check=True)
    assert total_cpu_s([os.getpid()]) - before >= 0.1
