"""KPI ledgers: what the KPIs are made of, added up per site, unit and hour as readings arrive (docs/kpis.md).

Pure Python (no Django): the tick, telemetry ingest and `rebuild_kpi_ledgers` feed readings and events
through `Accumulator`, and the ORM side (analytics.kpis.ledger_store) upserts its increments. The rules are
those of the SQL over raw history (analytics.kpis.selectors): a reading's status holds until the unit's next
reading, at most MAX_HELD; the held time is split at hour boundaries so a whole-hour window gets exactly its
hours; fuel burned is each drop of `fuel_l` from the previous reading, counted in the hour of the later
reading; a queued-at-dump reading belongs to the destination (`at`) of the truck's latest `queued` event at
or before it. Events (`loaded`, `dumped`) count in the hour of the event.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from fleet.sim.schema import CrusherStatus, TruckStatus

MAX_HELD_S = 300.0
HOUR_S = 3600.0

#: Seconds per status: one column per status any kind of equipment with a ledger can report.
STATUS_COLUMNS: dict[str, str] = {
    status: f"{status}_s" for status in dict.fromkeys([*TruckStatus, *CrusherStatus])
}
#: Every column of a ledger row besides its key, and whether it counts (int) or sums (float).
COUNT_COLUMNS = ("readings", "loads", "dumps", "dumps_to_crushers", "dumps_to_dumps", "rated_loads",
                 "over_110", "over_120")  # fmt: skip
SUM_COLUMNS = (
    *STATUS_COLUMNS.values(),
    "queue_at_crusher_s",
    "queue_at_dump_s",
    "fuel_burned_l",
    "crushed_t",
    "reclaim_tph_sum",
    "ore_t",
    "waste_t",
    "to_crushers_t",
    "to_dumps_t",
    "payload_ratio_sum",
)
#: What a reading carries into a later hour (the time it holds past the hour, the fuel drop from a reading
#: of an earlier hour), also kept apart as `carry_<column>`: the raw SQL ignores readings before a window,
#: so a window starting on the hour drops its first hour's carry, and a raw end edge adds its hour's.
CARRIED = (*STATUS_COLUMNS.values(), "queue_at_crusher_s", "queue_at_dump_s", "fuel_burned_l", "crushed_t")
CARRY_COLUMNS = tuple(f"carry_{name}" for name in CARRIED)
SUM_COLUMNS = (*SUM_COLUMNS, *CARRY_COLUMNS)
COLUMNS = (*COUNT_COLUMNS, *SUM_COLUMNS)
#: The unit kinds with ledgers: the reading kinds, and loaders (loads per loader, for the match factor).
UNIT_KINDS = ("truck", "crusher", "stockpile", "loader")


@dataclass
class Last:
    """A unit's latest reading so far: what the next one needs (the cursor of the ledger)."""

    ts_s: float
    status: str
    fuel_l: float | None = None
    throughput_tph: float | None = None
    queue_at: str | None = None  # trucks: `at` of the latest `queued` event


Key = tuple[str, int]  # (unit kind, unit id)
Row = tuple[int, str, int]  # (hour start in epoch seconds, unit kind, unit id)


class Accumulator:
    """Increments of the ledger rows, from readings and events fed in time order per unit."""

    def __init__(self, last: dict[Key, Last] | None = None) -> None:
        self.last: dict[Key, Last] = dict(last or {})
        self.changed: set[Key] = set()
        #: Trucks' queue destinations from `queued` events since their latest reading: they apply from the
        #: next reading on, not to the time the latest one holds.
        self.queue_at: dict[int, str | None] = {}
        self.rows: dict[Row, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))

    def _add(
        self, ts_s: float, kind: str, unit_id: int, column: str, value: float, *, carried: bool = False
    ) -> None:
        row = self.rows[(int(ts_s // HOUR_S * HOUR_S), kind, unit_id)]
        row[column] += value
        if carried:
            row[f"carry_{column}"] += value

    def _held(self, kind: str, unit_id: int, last: Last, until_s: float) -> None:
        """The previous reading's status from its time until `until_s` (at most MAX_HELD), split by hour."""
        start, end = last.ts_s, min(until_s, last.ts_s + MAX_HELD_S)
        column = STATUS_COLUMNS.get(last.status)
        while start < end:
            part_end = min(end, (start // HOUR_S + 1) * HOUR_S)
            seconds = part_end - start
            carried = start != last.ts_s  # past the hour of the reading
            if column is not None:
                self._add(start, kind, unit_id, column, seconds, carried=carried)
            if (
                kind == "truck"
                and last.status == TruckStatus.QUEUED_AT_DUMP
                and last.queue_at in ("crusher", "dump")
            ):
                self._add(start, kind, unit_id, f"queue_at_{last.queue_at}_s", seconds, carried=carried)
            if kind == "crusher" and last.throughput_tph:
                tonnes = last.throughput_tph * seconds / 3600.0
                self._add(start, kind, unit_id, "crushed_t", tonnes, carried=carried)
            start = part_end

    def reading(self, kind: str, unit_id: int, ts_s: float, row: dict[str, Any]) -> None:
        """One reading (its `status` and sensors); a reading at or before the unit's latest is ignored."""
        key = (kind, unit_id)
        last = self.last.get(key)
        if last is not None and ts_s <= last.ts_s:
            return
        if last is not None:
            self._held(kind, unit_id, last, ts_s)
        self._add(ts_s, kind, unit_id, "readings", 1)
        fuel = row.get("fuel_l")
        if kind == "truck" and last is not None and last.fuel_l is not None and fuel is not None:
            carried = ts_s // HOUR_S != last.ts_s // HOUR_S
            self._add(ts_s, kind, unit_id, "fuel_burned_l", max(last.fuel_l - fuel, 0.0), carried=carried)
        if kind == "stockpile":
            self._add(ts_s, kind, unit_id, "reclaim_tph_sum", row.get("discharge_rate_tph") or 0.0)
        self.last[key] = Last(
            ts_s,
            str(row.get("status") or ""),
            fuel_l=fuel,
            throughput_tph=row.get("throughput_tph"),
            queue_at=self.queue_at.pop(unit_id, last.queue_at if last is not None else None)
            if kind == "truck"
            else None,
        )
        self.changed.add(key)

    def event(self, ts_s: float, kind: str, unit_kind: str, unit_id: int, data: dict[str, Any]) -> None:
        """One event of the log: `queued` moves the truck's queue destination; `loaded` and `dumped` count."""
        if unit_kind != "truck":
            return
        if kind == "queued":
            self.queue_at[unit_id] = data.get("at")
        elif kind == "loaded":
            self._loaded(ts_s, unit_id, data)
        elif kind == "dumped":
            self._dumped(ts_s, unit_id, data)

    def _loaded(self, ts_s: float, unit_id: int, data: dict[str, Any]) -> None:
        self._add(ts_s, "truck", unit_id, "loads", 1)
        if data.get("loader_id") is not None:
            self._add(ts_s, "loader", int(data["loader_id"]), "loads", 1)
        payload, rated = data.get("payload_t"), data.get("rated_payload_t")
        if payload is None or not rated:
            return
        share = float(payload) / float(rated)
        self._add(ts_s, "truck", unit_id, "rated_loads", 1)
        self._add(ts_s, "truck", unit_id, "payload_ratio_sum", share)
        self._add(ts_s, "truck", unit_id, "over_110", int(share > 1.1))
        self._add(ts_s, "truck", unit_id, "over_120", int(share > 1.2))

    def _dumped(self, ts_s: float, unit_id: int, data: dict[str, Any]) -> None:
        payload = float(data.get("payload_t") or 0.0)
        self._add(ts_s, "truck", unit_id, "dumps", 1)
        if data.get("material") in ("ore", "waste"):
            self._add(ts_s, "truck", unit_id, f"{data['material']}_t", payload)
        destination = {"crusher": "crushers", "dump": "dumps"}.get(data.get("destination_kind"))
        if destination:
            self._add(ts_s, "truck", unit_id, f"to_{destination}_t", payload)
            self._add(ts_s, "truck", unit_id, f"dumps_to_{destination}", 1)

    def step(self, ts_s: float, readings: dict[str, list[dict]], events: list) -> None:
        """One engine step: its events (at or before its readings' time), then its readings at `ts_s`."""
        for event in events:
            self.event(event.clock_s, event.kind, event.unit_kind, event.unit_id, event.data)
        for kind, rows in readings.items():
            for row in rows:
                self.reading(kind, row["id"], ts_s, row)


def empty_parts() -> dict[str, Any]:
    """What one part of a window adds up to (ledger hours, or an edge from raw history): sums and id sets,
    so parts merge exactly (distinct trucks and loaders are unions, the mean payload a weighted mean)."""
    return {
        "truck_state_s": defaultdict(float),
        "truck_ids": set(),
        "queue_at_dump_s": defaultdict(float),
        "fuel_burned_l": 0.0,
        "events": defaultdict(float),
        "loading_trucks": set(),
        "loaders": set(),
        "crushers": {},
        "stockpiles": {},
    }


def add_crusher(parts: dict, unit: int, tonnes_t: float, state_s: dict[str, float]) -> None:
    row = parts["crushers"].setdefault(unit, {"tonnes_t": 0.0, "state_s": defaultdict(float)})
    row["tonnes_t"] += tonnes_t
    for status, value in state_s.items():
        row["state_s"][status] += value


def add_stockpile(parts: dict, unit: int, readings: int, reclaim_tph_sum: float) -> None:
    row = parts["stockpiles"].setdefault(unit, {"readings": 0, "reclaim_tph_sum": 0.0})
    row["readings"] += readings
    row["reclaim_tph_sum"] += reclaim_tph_sum


#: Event figures a ledger row of a truck carries, summed over the window.
EVENT_COLUMNS = ("loads", "dumps", "dumps_to_crushers", "dumps_to_dumps", "rated_loads", "over_110",
                 "over_120", "ore_t", "waste_t", "to_crushers_t", "to_dumps_t",
                 "payload_ratio_sum")  # fmt: skip


def add_rows(parts: dict, rows: list[dict[str, Any]]) -> dict:
    """Ledger rows (each with unit_kind, unit_id and the COLUMNS) added into `parts`."""
    for row in rows:
        kind, unit = row["unit_kind"], row["unit_id"]
        seconds = {status: row[column] for status, column in STATUS_COLUMNS.items() if row[column]}
        if kind == "loader":
            if row["loads"]:
                parts["loaders"].add(unit)
        elif kind == "truck":
            if row["readings"]:
                parts["truck_ids"].add(unit)
            if row["loads"]:
                parts["loading_trucks"].add(unit)
            for status, value in seconds.items():
                parts["truck_state_s"][status] += value
            for at in ("crusher", "dump"):
                if row[f"queue_at_{at}_s"]:
                    parts["queue_at_dump_s"][at] += row[f"queue_at_{at}_s"]
            parts["fuel_burned_l"] += row["fuel_burned_l"]
            for column in EVENT_COLUMNS:
                parts["events"][column] += row[column]
        elif kind == "crusher":
            add_crusher(parts, unit, row["crushed_t"], seconds)
        elif kind == "stockpile":
            add_stockpile(parts, unit, row["readings"], row["reclaim_tph_sum"])
    return parts


def figures(parts: dict) -> dict[str, Any]:
    """The summed parts as analytics.kpis.formulas.Aggregates takes them (crushers and stockpiles by id:
    the caller adds names, rated capacity and levels)."""
    events = {
        key: value
        for key, value in parts["events"].items()
        if key not in ("rated_loads", "payload_ratio_sum")
    }
    rated = parts["events"].get("rated_loads", 0)
    events["mean_payload_ratio"] = parts["events"].get("payload_ratio_sum", 0.0) / rated if rated else None
    events["trucks"], events["loaders"] = len(parts["loading_trucks"]), len(parts["loaders"])
    return {
        "truck_state_s": dict(parts["truck_state_s"]),
        "trucks_reporting": len(parts["truck_ids"]),
        "queue_at_dump_s": dict(parts["queue_at_dump_s"]),
        "fuel_burned_l": parts["fuel_burned_l"],
        "events": events,
    }
