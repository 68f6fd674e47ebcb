"""The reading CSV format (docs/data-format.md): columns, parsing options and vectorised validation.

Pure pandas, no Django: the import command supplies the equipment lookup. One file holds one equipment kind;
its header is `site,equipment,ts,status` followed by the sensors of schema.SENSORS[kind] in schema order.
Equipment is named by site slug + equipment name (a truck's fleet number), never by database id, so files
move between installations.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from fleet.sim.schema import SENSORS, STATUSES
from fleet.window import ReadingWindow

KEY_COLUMNS = ("site", "equipment", "ts", "status")
#: Timestamps are written like this (UTC, microseconds); any ISO 8601 time with a zone is accepted.
TS_EXAMPLE = "2025-03-01T06:00:05.000000Z"
#: A longer line is not a reading (a missing newline or a binary file): refuse it rather than parse it.
MAX_LINE_BYTES = 4096
#: Bad rows listed in an error message; the total is always given.
MAX_REPORTED = 20
#: Sensor limits checked against the equipment itself (fuel in the tank, level on the pile).
EQUIPMENT_LIMITS = {"truck": ("fuel_l", "its fuel tank"), "stockpile": ("level_t", "its capacity")}

#: (site slug, equipment name) -> (equipment id, equipment limit or None)
Lookup = Callable[[str, str], "tuple[int, float | None] | None"]


def columns(kind: str) -> list[str]:
    return [*KEY_COLUMNS, *SENSORS[kind]]


def detect_kind(header: Sequence[str]) -> str | None:
    """The equipment kind whose columns are exactly `header` (in any order), or None."""
    names = set(header)
    return next((kind for kind in SENSORS if set(columns(kind)) == names), None)


def read_options(kind: str) -> dict:
    """pandas.read_csv arguments for a file of `kind`: names as text (categories: few distinct values),
    timestamps as text (checked below), sensors inferred (numbers fast; anything else is caught later).
    Only an empty cell is missing: "NA" may be a perfectly good equipment name."""
    return {
        "dtype": {"site": "category", "equipment": "category", "status": "category", "ts": object},
        "keep_default_na": False,
        "na_values": {name: [""] for name in columns(kind)},
        "skip_blank_lines": False,
        "index_col": False,
        "engine": "c",
    }


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    column: str  # "" when the problem is the whole line
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.reason}"


@dataclass
class ChunkResult:
    """A validated chunk: `readings` is ready for ingest_readings when `bad_rows` is 0."""

    readings: pd.DataFrame | None
    bad_rows: int = 0
    problems: list[BadRow] = field(default_factory=list)


class _Problems:
    def __init__(self, n: int, first_line: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.first_line = first_line
        self.found: list[tuple[int, int, BadRow]] = []  # (row, order, problem) to sort by line

    def add(self, mask: np.ndarray, column: str, reason: Callable[[int], str] | str) -> None:
        mask = np.asarray(mask, dtype=bool) & ~self.bad  # one reason per row is enough
        if not mask.any():
            return
        self.bad |= mask
        for row in np.flatnonzero(mask)[:MAX_REPORTED]:
            text = reason(int(row)) if callable(reason) else reason
            self.found.append((int(row), len(self.found), BadRow(self.first_line + int(row), column, text)))

    def report(self) -> list[BadRow]:
        return [problem for _, _, problem in sorted(self.found)[:MAX_REPORTED]]


def _parse_zoned(ts: pd.Series) -> pd.Series | None:
    """The fast path: when every time parses and carries the same zone (an export: all Z), pandas returns
    zone-aware times in one pass; anything else (a naive time, a bad one, mixed zones) returns None."""
    try:
        parsed = pd.to_datetime(ts, format="ISO8601")
    except (ValueError, TypeError):
        return None
    if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return None
    return parsed.dt.tz_convert("UTC")


def _has_zone(ts: pd.Series) -> np.ndarray:
    """True where a timestamp names its zone: a trailing Z (fast path) or a ±HH:MM / ±HHMM offset."""
    zulu = ts.str.endswith("Z", na=False).to_numpy(dtype=bool, copy=True)
    rest = ~zulu & ts.notna().to_numpy()
    if rest.any():
        offset = ts[rest].str.contains(r"[+-]\d\d:?\d\d$", regex=True, na=False).to_numpy(dtype=bool)
        zulu[np.flatnonzero(rest)[offset]] = True
    return zulu


def validate_chunk(
    chunk: pd.DataFrame, *, kind: str, first_line: int, lookup: Lookup, window: ReadingWindow
) -> ChunkResult:
    """Check every row of `chunk` (whose first row is file line `first_line`) without a Python loop per row.

    A time outside `window` (older than retention keeps, or too far ahead of now) is a bad row.

    Returns the readings (equipment_id, ts, status, sensors) or the number of bad rows and the first few.
    """
    n = len(chunk)
    problems = _Problems(n, first_line)
    raw = {name: chunk[name] for name in columns(kind)}

    problems.add(chunk.isna().all(axis=1).to_numpy(), "", "an empty line")
    for name in ("site", "equipment"):
        problems.add(raw[name].isna().to_numpy(), name, "missing")

    ts_text = raw["ts"]
    problems.add(ts_text.isna().to_numpy(), "ts", "missing")
    ts = _parse_zoned(ts_text)
    if ts is None:  # some time lacks a zone, is not a time, or zones are mixed: check row by row (vectorised)
        zone = _has_zone(ts_text)
        problems.add(~zone, "ts", lambda row: f"{ts_text.iat[row]!r} has no time zone (add Z or +HH:MM)")
        ts = pd.to_datetime(ts_text.where(zone), format="ISO8601", utc=True, errors="coerce")
    problems.add(ts.isna().to_numpy(), "ts", lambda row: f"{ts_text.iat[row]!r} is not an ISO 8601 time")
    for outside, reason in (
        (window.too_old(ts), window.too_old_reason),
        (window.too_new(ts), window.too_new_reason),
    ):
        problems.add(outside, "ts", lambda row, why=reason: f"{ts_text.iat[row]!r} {why}")

    status = raw["status"]
    valid_statuses = {member.value for member in STATUSES[kind]}
    problems.add(status.isna().to_numpy(), "status", "missing")
    bad_status = ~status.isin(valid_statuses).to_numpy() & status.notna().to_numpy()
    problems.add(
        bad_status,
        "status",
        lambda row: f"{status.iat[row]!r} is not a {kind} status ({', '.join(valid_statuses)})",
    )

    sensors: dict[str, np.ndarray] = {}
    for name, sensor in SENSORS[kind].items():
        column = raw[name]
        if pd.api.types.is_bool_dtype(column):  # pandas reads a column of only True/False as booleans (1, 0)
            column = column.astype(str)
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        missing = column.isna().to_numpy()
        problems.add(missing, name, "missing")
        problems.add(
            np.isnan(values) & ~missing, name, lambda row, c=column: f"{c.iat[row]!r} is not a number"
        )
        problems.add(np.isinf(values), name, "not a finite number")
        unit = sensor.unit
        problems.add(
            values < sensor.minimum,
            name,
            lambda row, v=values, s=sensor, u=unit: f"{v[row]:g} {u} is below the minimum {s.minimum:g} {u}",
        )
        problems.add(
            values > sensor.maximum,
            name,
            lambda row, v=values, s=sensor, u=unit: f"{v[row]:g} {u} is above the maximum {s.maximum:g} {u}",
        )
        sensors[name] = values

    equipment_id, limit = _resolve(raw["site"], raw["equipment"], lookup, problems)
    if kind in EQUIPMENT_LIMITS:
        name, what = EQUIPMENT_LIMITS[kind]
        unit = SENSORS[kind][name].unit
        problems.add(
            sensors[name] > limit,  # NaN limit (unknown) compares False
            name,
            lambda row: f"{sensors[name][row]:g} {unit} is more than {what} ({limit[row]:g} {unit})",
        )

    status_text = status.astype(str).reset_index(drop=True)
    _check_repeats(
        problems, equipment_id, ts, {"status": status_text.to_numpy(), **sensors}, raw["equipment"]
    )

    bad_rows = int(problems.bad.sum())
    if bad_rows:
        return ChunkResult(None, bad_rows, problems.report())
    readings = pd.DataFrame(
        {"equipment_id": equipment_id, "ts": ts.reset_index(drop=True), "status": status_text, **sensors}
    )
    return ChunkResult(readings)


def _check_repeats(
    problems: _Problems,
    equipment_id: np.ndarray,
    ts: pd.Series,
    values: dict[str, np.ndarray],
    equipment: pd.Series,
) -> None:
    """The same equipment and time on two good lines: identical values are a harmless repeat (stored once,
    counted as a duplicate), different ones are ambiguous, so the later line is refused naming the earlier."""
    rows = np.flatnonzero(~problems.bad)
    if len(rows) < 2:
        return
    ts_us = pd.DatetimeIndex(ts).as_unit("us").asi8[rows]  # the stored resolution: what collides in the table
    ids = equipment_id[rows]
    order = np.lexsort((ts_us, ids))  # stable: file order within one (equipment, time)
    repeats = (ids[order][1:] == ids[order][:-1]) & (ts_us[order][1:] == ts_us[order][:-1])
    if not repeats.any():
        return
    starts_group = np.r_[True, ~repeats]
    group_first = np.maximum.accumulate(np.where(starts_group, np.arange(len(order)), 0))
    earlier = np.full(len(equipment_id), -1)
    earlier[rows[order]] = np.where(starts_group, -1, rows[order][group_first])
    repeated = earlier >= 0
    for name, column in values.items():
        there = column[np.where(repeated, earlier, 0)]
        problems.add(
            repeated & (column != there),
            name,
            lambda row, c=column: (
                f"{_shown(c[row])} here but {_shown(c[earlier[row]])} on line "
                f"{problems.first_line + earlier[row]} for {equipment.iat[row]!r} at the same time"
            ),
        )


def _shown(value: object) -> str:
    return repr(float(value)) if isinstance(value, float) else repr(value)


def _resolve(
    site: pd.Series, equipment: pd.Series, lookup: Lookup, problems: _Problems
) -> tuple[np.ndarray, np.ndarray]:
    """Equipment ids and limits per row, looking each distinct (site, equipment) pair up once."""
    site_codes = site.cat.codes.to_numpy(dtype=np.int64)
    equipment_codes = equipment.cat.codes.to_numpy(dtype=np.int64)
    keys = (site_codes + 1) * (len(equipment.cat.categories) + 1) + (equipment_codes + 1)
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    first_rows = np.zeros(len(unique_keys), dtype=np.int64)
    first_rows[inverse[::-1]] = np.arange(len(keys))[::-1]
    ids = np.full(len(unique_keys), -1, dtype=np.int64)
    limits = np.full(len(unique_keys), np.nan)
    unknown = np.zeros(len(unique_keys), dtype=bool)
    for position, row in enumerate(first_rows):
        if site_codes[row] < 0 or equipment_codes[row] < 0:
            continue  # already reported as missing
        found = lookup(str(site.iat[row]), str(equipment.iat[row]))
        if found is None:
            unknown[position] = True
        else:
            ids[position], limit = found
            limits[position] = np.nan if limit is None else limit
    problems.add(
        unknown[inverse],
        "equipment",
        lambda row: f"unknown equipment {equipment.iat[row]!r} at site {site.iat[row]!r}",
    )
    return ids[inverse], limits[inverse]


# --- Reading a file: gzip or plain, UTF-8, one reading per line


class CsvFormatError(ValueError):
    """A file that cannot be read as reading CSV; the message is one line for a person."""


NEWLINE, CARRIAGE_RETURN, QUOTE = ord("\n"), ord("\r"), ord('"')


class _GuardedStream(io.RawIOBase):
    """Passes bytes through, refusing at its line whatever would make the parser misread or miscount lines:
    a line over MAX_LINE_BYTES, a quote still open at the end of a line (a value spanning lines), a carriage
    return without its newline, bytes that are not UTF-8. Also reports progress.

    pandas numbers rows, not lines; they are the same only while every reading is exactly one line. Checking
    the raw bytes here keeps that true and names the exact line, which pandas' own errors cannot.
    """

    def __init__(self, source: BinaryIO, progress: Callable[[], None] | None = None) -> None:
        self.source, self.progress = source, progress
        self.line, self.since_newline = 1, 0
        self.quote_open = False  # an odd number of quotes so far on the current line
        self.ends_with_cr = False  # the last block ended in \r: is its \n the next block's first byte?
        self.utf8 = codecs.getincrementaldecoder("utf-8")()  # holds a character split between two blocks

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.source.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._check(data)
        if self.progress is not None:
            self.progress()
        return size

    def _check(self, data: bytes) -> None:
        block = np.frombuffer(data, dtype=np.uint8)
        newlines = np.flatnonzero(block == NEWLINE)
        checks = (  # on one line, the first problem named is the likeliest cause (UTF-16 has lone \r too)
            self._not_utf8(data, block, newlines),
            self._too_long(block, newlines),
            self._lone_carriage_return(block, newlines),
            self._open_quote(block, newlines),
        )
        found = [(problem[0], rank, problem[1]) for rank, problem in enumerate(checks) if problem is not None]
        if found:
            raise CsvFormatError(min(found)[2])
        if len(newlines):
            self.line += len(newlines)
            self.since_newline = len(block) - int(newlines[-1]) - 1
        else:
            self.since_newline += len(block)

    def _line_at(self, newlines: np.ndarray, position: int) -> int:
        return self.line + int(np.searchsorted(newlines, position))

    def _too_long(self, block: np.ndarray, newlines: np.ndarray) -> tuple[int, str] | None:
        ends = np.append(newlines, len(block))  # the last "line" runs on into the next block
        lengths = np.diff(ends, prepend=-1) - 1
        lengths[0] += self.since_newline
        too_long = np.flatnonzero(lengths > MAX_LINE_BYTES)
        if not len(too_long):
            return None
        line = self.line + int(too_long[0])
        return line, f"line {line} is longer than {MAX_LINE_BYTES} bytes: not a reading row"

    def _open_quote(self, block: np.ndarray, newlines: np.ndarray) -> tuple[int, str] | None:
        quotes = np.flatnonzero(block == QUOTE)
        if not len(block) and self.quote_open:  # the end of the file, inside a quoted value
            return self.line, f"line {self.line} has a quote that is never closed: a reading is one line"
        if not (self.quote_open or len(quotes)):
            return None
        per_line = np.bincount(np.searchsorted(newlines, quotes), minlength=len(newlines) + 1)
        per_line[0] += self.quote_open  # the last entry counts the line still open at the block's end
        self.quote_open = bool(per_line[-1] % 2)
        odd = np.flatnonzero(per_line[:-1] % 2)
        if not len(odd):
            return None
        line = self.line + int(odd[0])
        return line, f"line {line} has a quote that is never closed: a reading is one line"

    def _lone_carriage_return(self, block: np.ndarray, newlines: np.ndarray) -> tuple[int, str] | None:
        if self.ends_with_cr and len(block) and block[0] != NEWLINE:
            return self.line, _lone_carriage_return_message(self.line)
        returns = np.flatnonzero(block[:-1] == CARRIAGE_RETURN)
        lone = returns[block[returns + 1] != NEWLINE]
        self.ends_with_cr = bool(len(block)) and block[-1] == CARRIAGE_RETURN
        if not len(lone):
            return None
        line = self._line_at(newlines, int(lone[0]))
        return line, _lone_carriage_return_message(line)

    def _not_utf8(self, data: bytes, block: np.ndarray, newlines: np.ndarray) -> tuple[int, str] | None:
        held = len(self.utf8.getstate()[0])
        if not held and len(block) and not (block >= 0x80).any():
            return None  # ASCII: nothing to decode
        try:
            self.utf8.decode(data, final=not len(block))
        except UnicodeDecodeError as error:
            line = self._line_at(newlines, max(error.start - held, 0))
            byte = error.object[error.start]
            return line, f"line {line} is not UTF-8 text (byte 0x{byte:02x}): save the file as UTF-8"
        return None


def _lone_carriage_return_message(line: int) -> str:
    return f"line {line} has a carriage return (\\r) without a newline: lines end in \\n or \\r\\n"


GZIP_MAGIC = b"\x1f\x8b"


@contextmanager
def open_readings(path: str | Path, progress: Callable[[int], None] | None = None):
    """Open a reading CSV (gzip detected by content, not name); yields (header, text stream of the rows).

    `progress` is called with the bytes of the file consumed so far.
    """
    path = Path(path)
    try:
        raw = path.open("rb")
    except OSError as error:
        raise CsvFormatError(f"cannot open {path}: {error.strerror}") from None
    with raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        source: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        report = None if progress is None else (lambda: progress(raw.tell()))
        stream = io.BufferedReader(_GuardedStream(source, report), buffer_size=1 << 20)
        try:
            header_text = stream.readline(MAX_LINE_BYTES + 1).decode(
                "utf-8-sig"
            )  # the guard let only UTF-8 through
            if not header_text.strip():
                raise CsvFormatError(
                    "the file is empty" if not header_text else "line 1 is empty: expected the header"
                )
            header = [name.strip() for name in next(csv.reader([header_text]))]
            for number, name in enumerate(header, start=1):
                if not name.isprintable():
                    raise CsvFormatError(f"line 1, column {number}: {name!r} is not a column name")
            yield header, io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise CsvFormatError(f"damaged gzip data ({error})") from None
