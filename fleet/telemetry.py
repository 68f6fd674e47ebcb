"""Validation of telemetry batches from equipment gateways (POST /api/telemetry), vectorised with pandas.

Pure pandas, no Django: the service supplies the equipment it knows (id -> limit). Every item is checked
(kind, equipment, time, status, each sensor against schema ranges and the equipment's own limits) with one
NumPy mask per rule, never a Python loop per reading; messages are only formatted for the rejected items.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fleet.sim.schema import SENSORS, STATUSES
from fleet.window import ReadingWindow

#: A time's zone: Z, +HH:MM or +HHMM at its end.
_ZONE_AT_END = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
#: The same at the end of each line of a text (texts joined by newlines).
_ZONE_AT_LINE_END = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$", re.MULTILINE)

#: Readings accepted in one request: a minute of 80 trucks at 1 Hz, or a second of 5,000 units.
MAX_BATCH = 5000
#: Limits checked against the equipment itself: sensor -> (its limit column, words for the message).
EQUIPMENT_LIMITS = {"truck": ("fuel_l", "fuel tank"), "stockpile": ("level_t", "capacity")}

#: equipment id -> its limit (fuel tank, pile capacity) or None; equipment not in it is unknown.
Known = Mapping[int, float | None]


@dataclass
class Checked:
    """One kind's readings: the accepted rows (ready for ingest_readings) and errors per batch index."""

    kind: str
    readings: pd.DataFrame
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)


class _Errors:
    def __init__(self, index: np.ndarray) -> None:
        self.index = index  # batch position of each row
        self.bad = np.zeros(len(index), dtype=bool)
        self.by_item: dict[int, dict[str, list[str]]] = {}

    def add(self, mask: np.ndarray, name: str, message: Callable[[int], str] | str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        self.bad |= mask
        for row in np.flatnonzero(mask):
            text = message(int(row)) if callable(message) else message
            self.by_item.setdefault(int(self.index[row]), {}).setdefault(name, []).append(text)


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, and a mask of the values that are JSON numbers (text and true/false are not)."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64)  # the usual batch: pandas inferred a number column
        return numbers, ~np.isnan(numbers)
    is_number = values.map(lambda v: isinstance(v, int | float) and not isinstance(v, bool)).to_numpy(bool)
    return pd.to_numeric(values.where(is_number), errors="coerce").to_numpy(dtype=np.float64), is_number


def _integers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids and a mask of values that are not whole numbers (bools and text included)."""
    numbers, is_number = _numbers(values)
    with np.errstate(invalid="ignore"):  # NaN and inf are masked out below; no need to warn about them
        whole = is_number & np.isfinite(numbers) & (np.mod(numbers, 1) == 0)
        whole &= np.abs(np.where(whole, numbers, 0)) < 2**63  # bigint ids only
    return np.where(whole, numbers, -1).astype(np.int64), ~whole


def _zoned(raw: list, all_text: bool) -> np.ndarray:
    """Which values are text ending in a zone.

    The usual batch, every value a one-line text with a zone, is told over the texts joined by newlines at
    C speed (an MQTT batch holds tens of thousands): a plain search when every time ends as the first one
    does (a gateway writes one zone form), else one regex pass. Anything else goes value by value, where the
    zone is in the last 7 characters at most (+HH:MM and the newline `$` allows)."""
    if all_text:
        joined = "\n".join(raw) + "\n"
        if joined.count("\n") == len(raw):  # no time holds a newline: one line each
            first = _ZONE_AT_END.search(raw[0][-7:])
            if first is not None and joined.count(first.group() + "\n") == len(raw):
                return np.ones(len(raw), dtype=bool)
            if len(_ZONE_AT_LINE_END.findall(joined)) == len(raw):
                return np.ones(len(raw), dtype=bool)
    return np.fromiter(
        (isinstance(v, str) and _ZONE_AT_END.search(v[-7:]) is not None for v in raw), bool, len(raw)
    )


def _times(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """UTC times, a mask of values that are not ISO 8601 text, and a mask of times without a zone."""
    raw = values.tolist()
    all_text = bool(raw) and set(map(type, raw)) == {str}
    zoned = _zoned(raw, all_text)
    is_text = np.ones(len(raw), bool) if all_text else np.fromiter((isinstance(v, str) for v in raw), bool)
    # object dtype even when no item has a time (all missing would be float, which has no .str)
    text = values.where(is_text).astype(object)
    parsed = pd.to_datetime(text.where(zoned), format="ISO8601", utc=True, errors="coerce")
    not_time = text.isna().to_numpy() | (zoned & parsed.isna().to_numpy())
    if (~not_time & ~zoned).any():  # a time without a zone: parse it only to tell it apart from junk
        naive = pd.to_datetime(text.where(~zoned), format="ISO8601", errors="coerce").notna().to_numpy()
        not_time |= ~zoned & ~naive
    return parsed, not_time, ~zoned & ~not_time


def check(kind: str, items: list[Mapping], index: np.ndarray, known: Known, window: ReadingWindow) -> Checked:
    """Validate readings of one kind; `index` gives each item's position in the batch.

    A time outside `window` is refused: older than retention keeps, or ahead of now by more than the margin
    (a gateway with a wrong clock would otherwise freeze the equipment's state, which only moves forward).
    """
    columns = ["equipment_id", "ts", "status", *SENSORS[kind]]
    return check_frame(kind, pd.DataFrame.from_records(items, columns=columns), index, known, window)


def check_frame(
    kind: str, frame: pd.DataFrame, index: np.ndarray, known: Known, window: ReadingWindow
) -> Checked:
    """`check` of readings already in columns (equipment_id, ts, status and the kind's sensors, raw JSON
    values): what an MQTT batch of many messages builds without a dict per reading."""
    sensors = SENSORS[kind]
    errors = _Errors(index)

    raw_ids = frame["equipment_id"]
    errors.add(raw_ids.isna().to_numpy(), "equipment_id", "missing")
    equipment_id, not_int = _integers(raw_ids)
    errors.add(not_int & raw_ids.notna().to_numpy(), "equipment_id", "must be a whole number")
    unknown = ~pd.Series(equipment_id).isin(list(known)).to_numpy() & ~not_int
    errors.add(unknown, "equipment_id", lambda row: f"no {kind} with id {equipment_id[row]}")

    raw_ts = frame["ts"]
    ts, not_time, naive = _times(raw_ts)
    errors.add(raw_ts.isna().to_numpy(), "ts", "missing")
    errors.add(
        not_time & raw_ts.notna().to_numpy(), "ts", "must be an ISO 8601 time, e.g. 2025-03-01T06:00:05Z"
    )
    errors.add(naive, "ts", "has no time zone: add Z or +HH:MM")
    errors.add(window.too_old(ts), "ts", window.too_old_reason)
    errors.add(window.too_new(ts), "ts", window.too_new_reason)

    status = frame["status"]
    allowed = [member.value for member in STATUSES[kind]]
    errors.add(status.isna().to_numpy(), "status", "missing")
    errors.add(
        ~status.isin(allowed).to_numpy() & status.notna().to_numpy(),
        "status",
        lambda row: f"{status.iat[row]!r} is not a {kind} status ({', '.join(allowed)})",
    )

    values: dict[str, np.ndarray] = {}
    for name, sensor in sensors.items():
        column = frame[name]
        numbers, is_number = _numbers(column)
        missing = column.isna().to_numpy() & ~is_number
        errors.add(missing, name, "missing")
        errors.add(~is_number & ~missing, name, "must be a number")
        errors.add(is_number & ~np.isfinite(numbers), name, "must be a finite number")
        unit = sensor.unit
        errors.add(numbers < sensor.minimum, name, f"below the minimum {sensor.minimum:g} {unit}")
        errors.add(numbers > sensor.maximum, name, f"above the maximum {sensor.maximum:g} {unit}")
        values[name] = numbers

    if kind in EQUIPMENT_LIMITS:
        name, words = EQUIPMENT_LIMITS[kind]
        # One lookup for the whole column (NaN: unknown equipment, or one without the limit).
        limit_of = pd.Series({pk: limit or np.nan for pk, limit in known.items()}, dtype=float)
        limits = pd.Series(equipment_id).map(limit_of).to_numpy(dtype=np.float64)
        unit = sensors[name].unit
        errors.add(
            values[name] > limits,  # NaN (unknown equipment) compares False
            name,
            lambda row: f"{values[name][row]:g} {unit} is more than its {words} ({limits[row]:g} {unit})",
        )

    ts_us = ts.to_numpy(dtype="datetime64[us]").astype(np.int64)
    repeated = pd.DataFrame({"e": equipment_id, "t": ts_us}).duplicated().to_numpy() & ~errors.bad
    errors.add(repeated, "ts", "repeats an earlier item of this batch (same equipment and time)")

    good = ~errors.bad
    readings = pd.DataFrame(
        {
            "equipment_id": equipment_id[good],
            "ts": ts[good].reset_index(drop=True),
            "status": status[good].astype(str).reset_index(drop=True),
            **{name: numbers[good] for name, numbers in values.items()},
        }
    )
    return Checked(kind, readings, errors.by_item)
