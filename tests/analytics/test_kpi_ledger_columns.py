"""The ledger's column rule against its scalar rule: the same rows, sums, cursors and changed units."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.kpis.ledger import Accumulator, Last
from analytics.kpis.ledger_columns import ReadingColumns, add_readings
from fleet.sim.schema import STATUSES

KINDS = ("truck", "crusher", "stockpile")


def batch(kind: str, seed: int, readings: int = 400) -> ReadingColumns:
    """Readings of six units at irregular times across hour boundaries, each (unit, time) once."""
    rng = np.random.default_rng(seed)
    units = rng.integers(1, 7, readings)
    ts = 1_700_000_000 + np.cumsum(rng.exponential(40, readings)).round(3)
    statuses = [status.value for status in STATUSES[kind]]
    nan = np.full(readings, np.nan)
    return ReadingColumns(
        unit_id=units.astype(np.int64),
        ts_s=ts,
        status=np.array([statuses[i] for i in rng.integers(0, len(statuses), readings)], dtype=object),
        fuel_l=rng.uniform(0, 3000, readings) if kind == "truck" else nan,
        throughput_tph=np.where(rng.random(readings) < 0.2, 0.0, rng.uniform(0, 3000, readings))
        if kind == "crusher"
        else nan,
        discharge_rate_tph=rng.uniform(0, 500, readings) if kind == "stockpile" else nan,
    )


def scalar(kind: str, columns: ReadingColumns, last: dict) -> Accumulator:
    accumulator = Accumulator(last)
    for position in np.argsort(columns.ts_s, kind="stable").tolist():
        row = {"status": columns.status[position]}
        for name in ("fuel_l", "throughput_tph", "discharge_rate_tph"):
            value = float(getattr(columns, name)[position])
            row[name] = None if np.isnan(value) else value
        accumulator.reading(kind, int(columns.unit_id[position]), float(columns.ts_s[position]), row)
    return accumulator


def cursors(kind: str, columns: ReadingColumns) -> dict:
    """Units 1-3 have a reading before the batch, unit 2's after its first batch readings (those are old)."""
    start = float(columns.ts_s.min())
    status = list(STATUSES[kind])[-1].value
    return {
        (kind, 1): Last(start - 100, status, fuel_l=2000.0, throughput_tph=1500.0, queue_at="crusher"),
        (kind, 2): Last(float(np.sort(columns.ts_s[columns.unit_id == 2])[3]), status, queue_at="dump"),
        (kind, 3): Last(start - 3590, "queued_at_dump" if kind == "truck" else status, queue_at="dump"),
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_column_rule_adds_what_the_scalar_rule_adds_reading_by_reading(kind, seed):
    columns = batch(kind, seed)
    expected = scalar(kind, columns, cursors(kind, columns))
    got = Accumulator(cursors(kind, columns))

    add_readings(got, kind, columns)

    assert set(got.rows) == set(expected.rows)
    for key, row in expected.rows.items():
        assert got.rows[key] == row, key  # the same floats, summed in the same order
    assert got.last == expected.last
    assert got.changed == expected.changed


def test_readings_at_or_before_a_units_latest_add_nothing():
    columns = batch("truck", 4, readings=20)
    last = {("truck", int(unit)): Last(float(columns.ts_s.max()), "hauling") for unit in columns.unit_id}
    accumulator = Accumulator(last)

    add_readings(accumulator, "truck", columns)

    assert not accumulator.rows and not accumulator.changed
