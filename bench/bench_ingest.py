"""Benchmark: reading ingestion (fleet.readings.ingest_readings) against raw psycopg binary COPY, and
`import_readings` on a generated 1,000,000-row CSV.

Runs in its own database (`<DATABASE NAME>_bench`, created, migrated and dropped here), never in the
development or test database. Usage: `python bench/bench_ingest.py [--quick]`, or import and call run().
Goals (the history issue): ingestion >= 200,000 readings/s and >= 0.5x raw COPY; import >= 150,000 rows/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

from bench.common import BenchDatabase, setup_django, stats  # noqa: E402

TRUCKS = 50
TICK_S = 5


def _frame(truck_ids: list[int], rows: int, start: dt.datetime):
    """`rows` truck readings: every truck every TICK_S seconds, realistic ranges, full-precision floats."""
    import numpy as np
    import pandas as pd

    from fleet.sim.schema import SENSORS

    rng = np.random.default_rng(7)
    ids = np.array(truck_ids, dtype=np.int64)
    tick = np.arange(rows) // len(ids)
    frame = pd.DataFrame(
        {
            "equipment_id": np.resize(ids, rows),
            "ts": pd.Timestamp(start) + pd.to_timedelta(tick * TICK_S, unit="s"),
            "status": rng.choice(["hauling", "returning", "loading", "dumping", "queued_at_loader"], rows),
        }
    )
    for name, sensor in SENSORS["truck"].items():
        high = 1000.0 if name == "fuel_l" else sensor.maximum  # fits the smallest (777-class) tank
        frame[name] = rng.uniform(max(sensor.minimum, 0.0), high, rows)
    return frame


def _truncate() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE fleet_truckreading")


def _time_ingest(frame) -> float:
    from django.db import transaction

    from fleet.readings import ingest_readings

    _truncate()
    started = time.perf_counter()
    with transaction.atomic():
        result = ingest_readings("truck", frame)
    elapsed = time.perf_counter() - started
    assert result.inserted == len(frame), result
    return len(frame) / elapsed


def _time_raw_copy(tuples: list[tuple], columns: list[str]) -> float:
    """The baseline: psycopg's own binary COPY (write_row) of ready-made tuples into the same table."""
    from django.db import connection, transaction

    _truncate()
    started = time.perf_counter()
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            statement = f"COPY fleet_truckreading ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            with cursor.copy(statement) as copy:
                copy.set_types(["int8", "timestamptz", "text"] + ["float8"] * (len(columns) - 3))
                for row in tuples:
                    copy.write_row(row)
    return len(tuples) / (time.perf_counter() - started)


def _row(metric: str, figures, unit: str, goal: str | None = None, floor: float | None = None) -> dict:
    figures = figures if isinstance(figures, dict) else {"median": figures, "min": None, "max": None}
    met = None if floor is None else figures["median"] >= floor
    return {"metric": metric, **figures, "unit": unit, "goal": goal, "met": met}


def run(quick: bool = False) -> dict:
    """Run the benchmark; returns readings/s (median, min, max) per method, the ratio and import rows/s."""
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from fleet.histories import history
    from fleet.models import Truck
    from fleet.readings import ingest_readings
    from fleet.seeding import seed_site

    batch = 50_000 if quick else 200_000
    repeats = 3 if quick else 5
    import_rows = 100_000 if quick else 1_000_000
    # Inside the window of reading times kept (docs/history.md): the import's 28 h end before now.
    start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=2)
    with BenchDatabase() as database:
        call_command("migrate", verbosity=0)
        site = seed_site(name="Bench pit", trucks=TRUCKS, crushers=3, stockpiles=4).site
        truck_ids = list(Truck.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
        frame = _frame(truck_ids, batch, start)
        columns = history("truck").copy_columns
        tuples = list(
            zip(
                frame["equipment_id"].tolist(),
                frame["ts"].dt.to_pydatetime().tolist(),
                frame["status"].tolist(),
                *(frame[name].tolist() for name in columns[3:]),
                strict=True,
            )
        )
        _time_ingest(frame.iloc[:1000])  # warm-up: partitions, caches, connection
        ingest, raw = [], []
        for _ in range(repeats):
            ingest.append(_time_ingest(frame))
            raw.append(_time_raw_copy(tuples, columns))

        # The import benchmark: a CSV written by export_readings (the real format), imported back.
        _truncate()
        ingest_readings("truck", _frame(truck_ids, import_rows, start), update_state=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "readings.csv"
            call_command("export_readings", "--kind", "truck", "--output", str(path), stdout=io.StringIO())
            size_mb = path.stat().st_size / 1e6
            _truncate()
            with connection.cursor() as cursor:
                cursor.execute("UPDATE fleet_truck SET last_reading_at = NULL")
            started = time.perf_counter()
            call_command("import_readings", str(path), stdout=io.StringIO(), stderr=io.StringIO())
            import_s = time.perf_counter() - started
        _truncate()

    results = {
        "database": database,
        "batch_readings": batch,
        "repeats": repeats,
        "ingest_readings_per_s": stats(ingest),
        "raw_copy_readings_per_s": stats(raw),
        "ratio_ingest_to_raw": statistics.median(ingest) / statistics.median(raw),
        "import_rows": import_rows,
        "import_csv_mb": round(size_mb, 1),
        "import_seconds": import_s,
        "import_rows_per_s": import_rows / import_s,
    }
    _print(results)
    ingest_rate, raw_rate = results["ingest_readings_per_s"], results["raw_copy_readings_per_s"]
    ratio, import_rate = results["ratio_ingest_to_raw"], results["import_rows_per_s"]
    import_label = f"import_readings, {import_rows:,}-row CSV ({results['import_csv_mb']} MB)"
    results["rows"] = [
        _row(f"ingest_readings, {batch:,} a batch", ingest_rate, "readings/s", ">= 200,000", 200_000),
        _row("raw psycopg binary COPY, same table", raw_rate, "readings/s"),
        _row("ingest_readings / raw COPY", ratio, "x", ">= 0.5", 0.5),
        _row(import_label, import_rate, "rows/s", ">= 150,000", 150_000),
    ]
    return results


def _print(results: dict) -> None:
    print(f"\nReading ingestion: {results['batch_readings']:,} truck readings x {results['repeats']} repeats")
    print(f"{'method':<32}{'median/s':>12}{'min/s':>12}{'max/s':>12}")
    for label, key in (
        ("ingest_readings (numpy COPY)", "ingest_readings_per_s"),
        ("raw psycopg COPY", "raw_copy_readings_per_s"),
    ):
        stats = results[key]
        print(f"{label:<32}{stats['median']:>12,.0f}{stats['min']:>12,.0f}{stats['max']:>12,.0f}")
    print(f"{'ratio ingest / raw':<32}{results['ratio_ingest_to_raw']:>12.2f}")
    print(
        f"\nimport_readings: {results['import_rows']:,} rows ({results['import_csv_mb']} MB) in "
        f"{results['import_seconds']:.2f} s = {results['import_rows_per_s']:,.0f} rows/s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches (CI smoke run)")
    run(quick=parser.parse_args().quick)
