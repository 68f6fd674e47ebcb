"""Run every benchmark module, print one table and write bench/results/latest.json plus a dated copy.

Each module in SECTIONS exposes `run(quick: bool) -> dict` returning {"rows": [...], ...}; a row is
{"metric", "median", "min", "max", "unit", "goal", "met"} (min/max/goal/met may be None). Figures are medians
of repeats; comparisons are ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SECTIONS = ["bench_sim", "bench_tick", "bench_ingest", "bench_api", "bench_ws", "bench_dispatch", "bench_ml"]


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def print_table(section: str, rows: list[dict]) -> None:
    print(f"\n== {section}")
    print(f"{'metric':58} {'median':>12} {'min':>12} {'max':>12} {'unit':>10}  goal")
    for row in rows:
        goal = row.get("goal") or ""
        met = row.get("met")
        verdict = "" if met is None else (" MET" if met else " NOT MET")
        print(
            f"{row['metric'][:58]:58} {_fmt(row.get('median')):>12} {_fmt(row.get('min')):>12} "
            f"{_fmt(row.get('max')):>12} {row.get('unit', ''):>10}  {goal}{verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a small version that runs in a few minutes")
    parser.add_argument("--only", nargs="*", help="section names to run (default: all)")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")
    results: dict = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "sections": {},
    }
    failed = []
    for section in args.only or SECTIONS:
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{section}")
            outcome = module.run(quick=args.quick)
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(section)
            continue
        outcome["seconds"] = round(time.perf_counter() - started, 1)
        results["sections"][section] = outcome
        print_table(section, outcome["rows"])
    RESULTS_DIR.mkdir(exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    (RESULTS_DIR / "latest.json").write_text(text)
    (RESULTS_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json").write_text(text)
    print(f"\nwritten: {RESULTS_DIR / 'latest.json'}")
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
