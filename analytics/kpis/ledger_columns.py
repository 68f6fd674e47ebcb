"""The KPI ledger's reading rule on whole columns: a telemetry batch of thousands of readings at NumPy speed.

Pure NumPy (no Django). `Accumulator.reading` walks a batch one reading at a time (about 35 µs each, most of
the cost of storing MQTT telemetry); `add_readings` gives the same increments, cursors and changed units for a
batch of one kind of readings without events between them (telemetry), in one pass over arrays. Each
column's increments are added to its row in the batch's time order per unit (`np.add.at` keeps the order),
so the sums are the same floats the scalar rule makes (tests/analytics/test_kpi_ledger_columns.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.kpis.ledger import HOUR_S, MAX_HELD_S, STATUS_COLUMNS, Accumulator, Last
from fleet.sim.schema import TruckStatus

#: (hour, unit) packed in one int64 as hour number * UNIT_SPAN + unit id: ids below 2**40 (a trillion), hours
#: since 1970 below 2**23 (a thousand years).
UNIT_SPAN = 2**40


@dataclass
class ReadingColumns:
    """One kind's readings as arrays; NaN marks a missing number (a sensor the kind does not have)."""

    unit_id: np.ndarray  # int64
    ts_s: np.ndarray  # float64, epoch seconds
    status: np.ndarray  # object (str)
    fuel_l: np.ndarray  # float64
    throughput_tph: np.ndarray  # float64
    discharge_rate_tph: np.ndarray  # float64


def _predecessors(kind: str, columns: ReadingColumns, last: dict) -> tuple[np.ndarray, dict]:
    """The readings kept (newer than the unit's latest so far) in (unit, time) order, and for each the
    previous reading's time, status, fuel, throughput, queue destination (NaN/None: none)."""
    order = np.lexsort((columns.ts_s, columns.unit_id))
    unit, ts = columns.unit_id[order], columns.ts_s[order]
    known, which = np.unique(unit, return_inverse=True)  # each unit's cursor looked up once
    cursor_ts = np.array(
        [last[(kind, u)].ts_s if (kind, u) in last else -np.inf for u in known.tolist()], dtype=np.float64
    )[which]
    kept = order[ts > cursor_ts]  # the batch holds no two readings of a unit at one time (fleet.telemetry)
    unit, ts = columns.unit_id[kept], columns.ts_s[kept]
    first = np.ones(len(kept), dtype=bool)
    first[1:] = unit[1:] != unit[:-1]
    previous = np.roll(np.arange(len(kept)), 1)

    def shifted(values: np.ndarray, from_cursor: list) -> np.ndarray:
        out = values[kept][previous].astype(object if values.dtype == object else np.float64)
        out[first] = from_cursor
        return out

    cursors = [last.get((kind, u)) for u in unit[first].tolist()]

    def cursor_values(name: str, missing):
        return [missing if c is None or getattr(c, name) is None else getattr(c, name) for c in cursors]

    prev = {
        "ts_s": shifted(columns.ts_s, cursor_values("ts_s", np.nan)),
        "status": shifted(columns.status, cursor_values("status", None)),
        "fuel_l": shifted(columns.fuel_l, cursor_values("fuel_l", np.nan)),
        "throughput_tph": shifted(columns.throughput_tph, cursor_values("throughput_tph", np.nan)),
    }
    queue_at = cursor_values("queue_at", None) if kind == "truck" else [None] * len(cursors)
    starts = np.flatnonzero(first)
    prev["queue_at"] = np.repeat(np.array(queue_at, dtype=object), np.diff(np.append(starts, len(kept))))
    return kept, prev


def add_readings(accumulator: Accumulator, kind: str, columns: ReadingColumns) -> None:
    """What `accumulator.reading` does for each reading of `columns`, in time order per unit, at once.

    For telemetry: no events come between the readings, so a truck's queue destination stays its cursor's.
    """
    if not len(columns.unit_id):
        return
    kept, prev = _predecessors(kind, columns, accumulator.last)
    unit, ts = columns.unit_id[kept], columns.ts_s[kept]
    hour = np.floor_divide(ts, HOUR_S) * HOUR_S
    reading = np.arange(len(kept))
    #: (column, reading position, hour, value, carried): each increment with the reading it comes from
    adds: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(column: str, chosen: np.ndarray, at_hour: np.ndarray, values: np.ndarray, carried) -> None:
        carried = np.broadcast_to(np.asarray(carried, dtype=bool), (len(reading),))[chosen]
        adds.append((column, reading[chosen], at_hour[chosen], values, carried))

    has_prev = ~np.isnan(prev["ts_s"])
    start = np.where(has_prev, prev["ts_s"], 0.0)
    end = np.minimum(ts, start + MAX_HELD_S)
    boundary = (np.floor_divide(start, HOUR_S) + 1) * HOUR_S
    part_end = np.minimum(end, boundary)
    parts = [  # the held time before the hour boundary, then past it (carried into the next hour)
        (has_prev & (start < end), np.floor_divide(start, HOUR_S) * HOUR_S, part_end - start, False),
        (has_prev & (boundary < end), boundary, end - boundary, True),
    ]
    # Each previous status as a small integer, once: comparing the object array itself for each of a dozen
    # statuses, twice, costs more than the rest of the rule.
    codes, names = pd.factorize(prev["status"])
    code_of = {name: code for code, name in enumerate(names)}

    def in_status(status: str) -> np.ndarray:
        return codes == code_of.get(status, -2)  # -2: no reading had it (-1 marks a missing status)

    for mask, part_hour, seconds, carried in parts:
        for status, column in STATUS_COLUMNS.items():
            chosen = mask & in_status(status)
            add(column, chosen, part_hour, seconds[chosen], carried)
        if kind == "truck":
            queued = mask & in_status(TruckStatus.QUEUED_AT_DUMP)
            for at in ("crusher", "dump"):
                chosen = queued & (prev["queue_at"] == at)
                add(f"queue_at_{at}_s", chosen, part_hour, seconds[chosen], carried)
        if kind == "crusher":
            tph = prev["throughput_tph"]
            chosen = mask & ~np.isnan(tph) & (tph != 0)
            add("crushed_t", chosen, part_hour, tph[chosen] * seconds[chosen] / 3600.0, carried)
    everything = np.ones(len(kept), dtype=bool)
    add("readings", everything, hour, np.ones(len(kept)), False)
    if kind == "truck":
        fuel, before = columns.fuel_l[kept], prev["fuel_l"]
        chosen = has_prev & ~np.isnan(fuel) & ~np.isnan(before)
        other_hour = np.floor_divide(ts, HOUR_S) != np.floor_divide(start, HOUR_S)
        add("fuel_burned_l", chosen, hour, np.maximum(before[chosen] - fuel[chosen], 0.0), other_hour)
    if kind == "stockpile":
        add(
            "reclaim_tph_sum",
            everything,
            hour,
            np.nan_to_num(columns.discharge_rate_tph[kept], nan=0.0),
            False,
        )
    _add_in_order(accumulator, kind, unit, adds)
    _move_cursors(accumulator, kind, columns, kept, unit, prev)


def _add_in_order(accumulator: Accumulator, kind: str, unit: np.ndarray, adds: list) -> None:
    """Each column's increments summed per (hour, unit) in reading order, as the scalar rule adds them."""
    adds = [item for item in adds if len(item[1])]
    if not adds:
        return
    hour_numbers = (np.concatenate([item[2] for item in adds]) // HOUR_S).astype(np.int64)
    units = unit[np.concatenate([item[1] for item in adds])].astype(np.int64)
    # One int64 key per (hour, unit): a 1-D unique is a plain sort, where unique(axis=1) sorts records.
    keys, inverse = np.unique(hour_numbers * UNIT_SPAN + units, return_inverse=True)
    rows = [
        accumulator.rows[(int(key // UNIT_SPAN * HOUR_S), kind, key % UNIT_SPAN)] for key in keys.tolist()
    ]
    by_column: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {}
    offset = 0
    for column, readings, _, values, carried in adds:
        where = inverse[offset : offset + len(values)]
        offset += len(values)
        by_column.setdefault(column, []).append((readings, where, values, carried))
    for column, parts in by_column.items():
        readings = np.concatenate([part[0] for part in parts])
        order = np.argsort(readings, kind="stable")
        where = np.concatenate([part[1] for part in parts])[order]
        values = np.concatenate([part[2] for part in parts])[order]
        carried = np.concatenate([part[3] for part in parts])[order]
        targets = [(column, np.ones(len(values), dtype=bool))]
        if carried.any():
            targets.append((f"carry_{column}", carried))
        for name, pick in targets:
            sums = np.zeros(len(rows))
            np.add.at(sums, where[pick], values[pick])
            for row_number in np.unique(where[pick]).tolist():
                value = float(sums[row_number])
                rows[row_number][name] += int(value) if name == "readings" else value


def _move_cursors(accumulator, kind: str, columns: ReadingColumns, kept, unit, prev) -> None:
    if not len(kept):
        return
    last_of_unit = np.append(unit[1:] != unit[:-1], True)
    queue_at = prev["queue_at"][last_of_unit]
    for position, queue in zip(kept[last_of_unit].tolist(), queue_at.tolist(), strict=True):
        fuel, tph = columns.fuel_l[position], columns.throughput_tph[position]
        key = (kind, int(columns.unit_id[position]))
        accumulator.last[key] = Last(
            float(columns.ts_s[position]),
            str(columns.status[position] or ""),
            fuel_l=None if np.isnan(fuel) else float(fuel),
            throughput_tph=None if np.isnan(tph) else float(tph),
            queue_at=queue if kind == "truck" else None,
        )
        accumulator.changed.add(key)
