"""Benchmark: /api/mining/kpis for the current shift at 1,000 trucks, computed from the KPI ledgers and as
kept by the tick (analytics.kpis.live), against the same figures from raw history, at two history sizes
(issue 19 point 2: constant in history).

Each size runs in a fresh database: a 1,000-truck site, truck readings generated inside PostgreSQL every 5 s
ending now (bench.bench_api's generator), `rebuild_kpi_ledgers` over them, then the shift's KPIs through the
whole Django/DRF stack in-process (django.test.Client: no daphne, no network) and the raw-history path
(`kpi_aggregates(raw=True)`, what the endpoint ran before the ledgers). A tick crossing a simulated minute
then keeps the shift's figures, and the endpoint is timed again. Last, five live ticks of the site give
the ledger hook's share of a tick (`persist.history`: one read of the cursors, one upsert statement).
Usage: `python -m bench.bench_kpis [--quick]`, or import and call run().
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from bench.common import BenchDatabase, setup_django, stats

TRUCKS = 1000


def _row(metric: str, figures, unit: str, goal: str | None = None, met: bool | None = None) -> dict:
    if not isinstance(figures, dict):
        figures = {"median": figures, "min": None, "max": None}
    return {"metric": metric, **figures, "unit": unit, "goal": goal, "met": met}


def _timed(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _one_size(readings: int, repeats: int) -> dict:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from analytics.kpis import formulas, selectors
    from analytics.kpis.rebuild import rebuild_site
    from bench.bench_api import _fill_history
    from fleet import seeding
    from fleet.models import Site, Truck
    from fleet.ticking import tick_site

    with BenchDatabase():
        call_command("migrate", verbosity=0)
        site = seeding.seed_site(name="KPI bench", trucks=TRUCKS, loaders=50, crushers=20, stockpiles=50).site
        truck_ids = list(Truck.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)
        fill_s = _fill_history(truck_ids, readings, end)
        Site.objects.filter(pk=site.pk).update(sim_clock=end)
        site.refresh_from_db()
        started = time.perf_counter()
        totals = rebuild_site(site.pk)
        rebuild_s = time.perf_counter() - started
        start, _ = formulas.window("shift", end, site.timezone)
        client = Client(HTTP_HOST="localhost")
        client.force_login(User.objects.create_superuser("bench", password="bench-password-1"))
        url = f"/api/mining/kpis?site={site.pk}&window=shift"

        def api() -> None:
            response = client.get(url)
            assert response.status_code == 200, response.content[:300]

        api()  # warm: imports, plans
        api_ms = stats(_timed(api, repeats))
        _, plan = selectors.window_parts(site.pk, start=start, end=end, clock=end)
        raw_ms = stats(
            _timed(
                lambda: formulas.mine_kpis(selectors.kpi_aggregates(site.pk, start=start, end=end, raw=True)),
                2,
            )
        )
        # A tick crossing a simulated minute computes the shift's KPIs and keeps them (analytics.kpis.live):
        # until the next minute, the endpoint answers from there.
        crossing_s = 61.0 - end.timestamp() % 60
        tick_site(site.pk, now=end + dt.timedelta(seconds=crossing_s), dt_s=crossing_s)
        as_of = dt.datetime.fromisoformat(client.get(url).json()["as_of"])
        assert as_of > end, "the answer runs to the crossing tick's clock: kept by it"
        kept_ms = stats(_timed(api, repeats))
        history_ms, total_ms = [], []
        tick_end = end + dt.timedelta(seconds=crossing_s)
        for number in range(5):
            outcome = tick_site(site.pk, now=tick_end + dt.timedelta(seconds=5 * (number + 1)), dt_s=5.0)
            if outcome.applied:
                history_ms.append(outcome.timings_s.get("persist.history", 0.0) * 1000)
                total_ms.append(outcome.timings_s["total"] * 1000)
        return {
            "fill_s": fill_s,
            "rebuild_s": rebuild_s,
            "rebuild_readings": totals["readings"],
            "shift_h": (end - start).total_seconds() / 3600,
            "plan": {name: f"{a:%H:%M}-{b:%H:%M}" for name, (a, b) in plan.items()},
            "api_ms": api_ms,
            "kept_ms": kept_ms,
            "raw_ms": raw_ms,
            "tick_history_ms": stats(history_ms) if history_ms else None,
            "tick_total_ms": stats(total_ms) if total_ms else None,
        }


def run(quick: bool = False) -> dict:
    setup_django()
    sizes = (1_000_000, 4_000_000) if quick else (1_000_000, 10_000_000)
    repeats = 10 if quick else 20
    results = {}
    for size in sizes:
        results[size] = _one_size(size, repeats)
        print(f"bench_kpis: {size:,} readings: {results[size]}", flush=True)  # a long run shows progress
    small, large = sizes
    rows = []
    for size, figures in results.items():
        label = f"{size / 1e6:g}M readings"
        rows.append(_row(f"{label}: history generated", figures["fill_s"], "s"))
        rows.append(
            _row(
                f"{label}: rebuild_kpi_ledgers ({figures['rebuild_readings']:,} readings)",
                figures["rebuild_s"],
                "s",
            )
        )
        rows.append(
            _row(
                f"{label}: /api/mining/kpis shift ({figures['shift_h']:.1f} h, {figures['plan']}), 1 client",
                figures["api_ms"],
                "ms",
                "< 50 ms",
                figures["api_ms"]["median"] < 50,
            )
        )
        rows.append(
            _row(
                f"{label}: /api/mining/kpis shift, kept by the tick this simulated minute, 1 client",
                figures["kept_ms"],
                "ms",
                "< 50 ms",
                figures["kept_ms"]["median"] < 50,
            )
        )
        rows.append(
            _row(f"{label}: same shift from raw history (before the ledgers)", figures["raw_ms"], "ms")
        )
        if figures["tick_history_ms"]:
            rows.append(
                _row(f"{label}: tick, KPI ledger hook (persist.history)", figures["tick_history_ms"], "ms")
            )
            rows.append(_row(f"{label}: tick, total", figures["tick_total_ms"], "ms"))
    kept_ratio = results[large]["kept_ms"]["median"] / results[small]["kept_ms"]["median"]
    rows.append(
        _row(
            f"/api/mining/kpis shift, kept: {large / 1e6:g}M / {small / 1e6:g}M readings",
            kept_ratio,
            "x",
            "<= 1.5x",
            kept_ratio <= 1.5,
        )
    )
    ratio = results[large]["api_ms"]["median"] / results[small]["api_ms"]["median"]
    rows.append(
        _row(
            f"/api/mining/kpis shift: {large / 1e6:g}M / {small / 1e6:g}M readings",
            ratio,
            "x",
            "<= 1.5x",
            ratio <= 1.5,
        )
    )
    return {"rows": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    from bench.__main__ import print_table

    print_table("bench_kpis", run(quick=parser.parse_args().quick)["rows"])
