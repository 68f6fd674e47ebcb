"""`import_readings` under generated input (issue 10): a valid file imports exactly what it says; a file with
any corruption is refused in one line naming the line (and column) and the reason, and nothing is written.

Each hypothesis example runs in a savepoint that is rolled back, so every example starts from the trucks the
fixture made (which is why the function-scoped-fixture health check is off).
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from django.core.management import CommandError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet import csvformat, ingest
from fleet.csvformat import MAX_LINE_BYTES, columns
from fleet.models import Truck, TruckReading
from fleet.sim.schema import SENSORS, TruckStatus
from tests.factories import SiteFactory, TruckFactory
from tests.fleet.test_import_readings import row, run, ts

pytestmark = pytest.mark.django_db

KNOWN_TRUCKS = ("HT-01", "HT-02")
NEW_TRUCK = "HT-77"  # only in files imported with --create-missing
TANK_L = 4921.0  # the trucks' fuel tank: fuel_l above it is refused
START = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
SPAN_US = 2 * 86_400 * 1_000_000  # two days: two daily partitions
HEADER = columns("truck")
SENSOR_NAMES = list(SENSORS["truck"])
STATUSES = [status.value for status in TruckStatus]
ZONES = ["Z", 0, 330, -240, 600]  # "Z" or minutes east of UTC

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def trucks():
    site = SiteFactory(slug="pit")
    return [TruckFactory(site=site, name=name, fuel_tank_l=TANK_L) for name in KNOWN_TRUCKS]


@contextmanager
def rolled_back() -> Iterator[None]:
    """One hypothesis example: whatever it writes is undone before the next."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def stored_state() -> tuple:
    """Everything an import may write: readings, equipment and each truck's current state."""
    trucks = Truck.objects.order_by("name").values_list("name", "last_reading_at", "status", *SENSOR_NAMES)
    return TruckReading.objects.count(), list(trucks)


# --- Valid files


@dataclass(frozen=True)
class Reading:
    truck: str
    ts: dt.datetime
    status: str
    sensors: tuple[float, ...]


class Line:
    """One line of a file: its cells in column order. A line's number is only known when the file is
    rendered, after corruptions have inserted lines, so expectations hold the Line itself."""

    def __init__(self, cells: list[bytes], *, intact: bool = True, first: bool = False) -> None:
        self.cells = cells
        self.intact = intact  # one cell per column (not blank, truncated or overlong)
        self.first = first  # the first line of its reading (not a repeat)


@dataclass
class CsvFile:
    order: list[str]  # the columns of every line
    header: list[str]  # as written: `order` unless a corruption changed it
    lines: list[Line]
    readings: list[Reading]  # distinct, in file order
    repeats: int  # lines repeating a reading identically (same instant, maybe another zone or spelling)
    create_missing: bool
    line_end: bytes = b"\n"
    bom: bool = False
    compressed: bool = False
    final_newline: bool = True
    replaced_by: bytes | None = None  # a whole-file corruption
    #: What the error may say: regexes whose {0}, {1} are the numbers of the given lines.
    expected: list[tuple[str, tuple[Line, ...]]] = field(default_factory=list)

    def number(self, line: Line) -> int:
        return next(index for index, candidate in enumerate(self.lines) if candidate is line) + 2

    def render(self) -> bytes:
        if self.replaced_by is not None:
            return self.replaced_by
        text = [",".join(self.header).encode()] + [b",".join(line.cells) for line in self.lines]
        content = self.line_end.join(text) + (self.line_end if self.final_newline else b"")
        content = codecs.BOM_UTF8 + content if self.bom else content
        return gzip.compress(content) if self.compressed else content

    def patterns(self) -> list[str]:
        return [pattern.format(*(self.number(line) for line in lines)) for pattern, lines in self.expected]

    def column(self, name: str) -> int:
        return self.order.index(name)

    def arguments(self) -> list[str]:
        return ["--create-missing"] if self.create_missing else []


def sensor_values(name: str) -> st.SearchStrategy[float]:
    sensor = SENSORS["truck"][name]
    maximum = min(sensor.maximum, TANK_L) if name == "fuel_l" else sensor.maximum
    return st.floats(sensor.minimum, maximum, allow_nan=False, allow_infinity=False)


def number_text(draw: st.DrawFn, value: float) -> bytes:
    """The shortest exact spelling, or the integer one when the value is whole (both read back exactly)."""
    if value.is_integer() and abs(value) < 1e15 and draw(st.booleans()):
        return str(int(value)).encode()
    return repr(value).encode()


def ts_text(draw: st.DrawFn, instant: dt.datetime) -> bytes:
    zone = draw(st.sampled_from(ZONES))
    minutes = 0 if zone == "Z" else zone
    local = instant + dt.timedelta(minutes=minutes)
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond or draw(st.booleans()):
        text += local.strftime(".%f")
    if zone == "Z":
        return f"{text}Z".encode()
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}".encode()


def render_reading(draw: st.DrawFn, order: list[str], reading: Reading, *, first: bool) -> Line:
    truck = reading.truck.encode()
    cells = {
        "site": b"pit",
        "equipment": b'"' + truck + b'"' if draw(st.booleans()) else truck,  # RFC 4180 quoting is optional
        "ts": ts_text(draw, reading.ts),
        "status": reading.status.encode(),
    }
    cells |= {
        name: number_text(draw, value) for name, value in zip(SENSOR_NAMES, reading.sensors, strict=True)
    }
    return Line([cells[column] for column in order], first=first)


@st.composite
def valid_files(draw: st.DrawFn) -> CsvFile:
    """1-12 distinct readings of two or three trucks over two days, columns in any order, times in any zone,
    optionally a BOM, CRLF, gzip, no final newline, and identical repeats of some readings."""
    create_missing = draw(st.booleans())
    trucks = [*KNOWN_TRUCKS, NEW_TRUCK] if create_missing else list(KNOWN_TRUCKS)
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(trucks), st.integers(0, SPAN_US - 1)),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    readings = [
        Reading(
            truck,
            START + dt.timedelta(microseconds=offset_us),
            draw(st.sampled_from(STATUSES)),
            tuple(draw(sensor_values(name)) for name in SENSOR_NAMES),
        )
        for truck, offset_us in keys
    ]
    order = list(draw(st.permutations(HEADER)))
    firsts = [render_reading(draw, order, reading, first=True) for reading in readings]
    lines = list(firsts)
    repeated = draw(st.lists(st.sampled_from(range(len(readings))), max_size=3))
    for index in repeated:  # respelled (zone, quoting, number format), after its first line
        position = draw(st.integers(lines.index(firsts[index]) + 1, len(lines)))
        lines.insert(position, render_reading(draw, order, readings[index], first=False))
    return CsvFile(
        order=order,
        header=list(order),
        lines=lines,
        readings=readings,
        repeats=len(repeated),
        create_missing=create_missing,
        line_end=draw(st.sampled_from([b"\n", b"\r\n"])),
        bom=draw(st.booleans()),
        compressed=draw(st.booleans()),
        final_newline=draw(st.booleans()),
    )


def write(tmp_path, file: CsvFile) -> str:
    path = tmp_path / "readings.csv"
    path.write_bytes(file.render())
    return str(path)


@FUZZ
@given(file=valid_files())
def test_a_valid_file_imports_every_reading_exactly_once(trucks, tmp_path, file):
    path = write(tmp_path, file)
    with rolled_back():
        before = TruckReading.objects.count()

        output = run(path, *file.arguments())

        assert f"imported {len(file.readings)} truck readings of {len(file.lines)} rows" in output
        assert f"{file.repeats} duplicates skipped" in output
        assert ("created equipment: pit/HT-77" in output) == any(r.truck == NEW_TRUCK for r in file.readings)
        assert TruckReading.objects.count() == before + len(file.readings)
        stored = TruckReading.objects.values_list("equipment__name", "ts", "status", *SENSOR_NAMES)
        assert set(stored) == {
            (reading.truck, reading.ts, reading.status, *reading.sensors) for reading in file.readings
        }
        for truck in Truck.objects.filter(name__in={reading.truck for reading in file.readings}):
            newest = max((r for r in file.readings if r.truck == truck.name), key=lambda r: r.ts)
            shown = (truck.last_reading_at, truck.status, *(getattr(truck, name) for name in SENSOR_NAMES))
            assert shown == (newest.ts, newest.status, *newest.sensors)


# --- Corruptions: each changes a valid file and says what the error may say


Corruption = Callable[[st.DrawFn, CsvFile], None]

HEADER_REFUSED = (
    r"(the header matches no equipment kind"
    r"|columns do not match truck readings: missing .*; unexpected"
    r"|line 1, column \d+: .* is not a column name)"
)
header_names = st.text(st.characters(codec="utf-8", exclude_characters=',"\r\n'), min_size=1, max_size=10)


def pick_line(draw: st.DrawFn, file: CsvFile, column: str | None = None) -> Line | None:
    """An intact line, or with `column` any line that has it (a blank or truncated one may not)."""
    if column is None:
        lines = [line for line in file.lines if line.intact]
    else:
        lines = [line for line in file.lines if len(line.cells) > file.column(column)]
    return draw(st.sampled_from(lines)) if lines else None


def replace_cell(draw: st.DrawFn, file: CsvFile, column: str, value: bytes, pattern: str) -> None:
    line = pick_line(draw, file, column)
    if line is None:
        return  # earlier corruptions left no line with that cell; their own errors are expected
    line.cells[file.column(column)] = value
    file.expected.append((pattern, (line,)))


def wrong_header(draw: st.DrawFn, file: CsvFile) -> None:
    """A column renamed, missing, added or named twice."""
    how = draw(st.sampled_from(["rename", "drop", "add", "twice"]))
    index = draw(st.integers(0, len(file.header) - 1))
    if how == "rename":
        old = file.header[index]
        file.header[index] = draw(header_names.filter(lambda name: name.strip() != old))
    elif how == "drop":
        del file.header[index]
    else:
        extra = file.header[index] if how == "twice" else draw(header_names)
        file.header.insert(draw(st.integers(0, len(file.header))), extra)
    file.expected.append((HEADER_REFUSED, ()))


def text_in_a_number(draw: st.DrawFn, file: CsvFile) -> None:
    word = draw(st.text("abcdfghjklmopqrsuvwxyz", min_size=1, max_size=8))  # no e, i, n, t: inf, nan, true
    name = draw(st.sampled_from(SENSOR_NAMES))
    replace_cell(draw, file, name, word.encode(), rf"line {{0}}, column {name}: '{word}' is not a number")


def bad_timestamp(draw: st.DrawFn, file: CsvFile) -> None:
    text = draw(
        st.sampled_from(
            [
                "yesterday",
                "2031-03-01T06:00:00",  # no zone
                "2031-03-01 06:00",
                "1709272800",
                "2031-13-01T00:00:00Z",
                "2031-02-30T00:00:00Z",
                "2031-03-01T25:00:00Z",
                "2031-03-01T06:00:00+25:00",
                "2031-03-01T06:00:00.000000ZZ",
            ]
        )
    )
    reason = "(has no time zone|is not an ISO 8601 time)"
    replace_cell(draw, file, "ts", text.encode(), rf"line {{0}}, column ts: '{re.escape(text)}' {reason}")


def bad_status(draw: st.DrawFn, file: CsvFile) -> None:
    word = draw(st.sampled_from(["flying", "Hauling", "HAULING", "idle", "running", "0"]))
    replace_cell(
        draw, file, "status", word.encode(), rf"line {{0}}, column status: '{word}' is not a truck status"
    )


def missing_value(draw: st.DrawFn, file: CsvFile) -> None:
    name = draw(st.sampled_from(HEADER))
    replace_cell(draw, file, name, b"", rf"line {{0}}, column {name}: missing")


def not_finite(draw: st.DrawFn, file: CsvFile) -> None:
    text = draw(
        st.sampled_from(["nan", "NaN", "-nan", "NAN", "inf", "-inf", "+inf", "Infinity", "-1e999", "1e999"])
    )
    name = draw(st.sampled_from(SENSOR_NAMES))
    pattern = rf"line {{0}}, column {name}: ('{re.escape(text)}' is not a|not a finite) number"
    replace_cell(draw, file, name, text.encode(), pattern)


def out_of_range(draw: st.DrawFn, file: CsvFile) -> None:
    name = draw(st.sampled_from(SENSOR_NAMES))
    sensor = SENSORS["truck"][name]
    below = st.floats(max_value=sensor.minimum, exclude_max=True, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=sensor.maximum, exclude_min=True, allow_nan=False, allow_infinity=False)
    value = draw(st.one_of(below, above))
    reason = "(is below the minimum|is above the maximum)"
    replace_cell(draw, file, name, repr(value).encode(), rf"line {{0}}, column {name}: .* {reason}")


def conflicting_repeat(draw: st.DrawFn, file: CsvFile) -> None:
    """The same truck and time again later in the file, with one value changed: which one is right?"""
    originals = [line for line in file.lines if line.first and line.intact]
    if not originals:
        return
    original = draw(st.sampled_from(originals))
    name = draw(st.sampled_from(["status", *SENSOR_NAMES]))
    old = original.cells[file.column(name)]
    if name == "status":
        new = draw(st.sampled_from(STATUSES).map(str.encode).filter(lambda status: status != old))
    else:
        new = repr(draw(sensor_values(name).filter(lambda value: repr(value).encode() != old))).encode()
    repeat = Line(list(original.cells))
    repeat.cells[file.column(name)] = new
    after = file.lines.index(original) + 1
    file.lines.insert(draw(st.integers(after, len(file.lines))), repeat)
    file.expected.append((rf"line {{0}}, column {name}: .* on line {{1}} for ", (repeat, original)))


def not_utf8(draw: st.DrawFn, file: CsvFile) -> None:
    """Latin-1 accents, or arbitrary bytes around one that is never valid UTF-8."""
    latin1 = st.sampled_from(["Camión", "Fábrica", "Çelik", "Größe", "naïve"]).map(
        lambda w: w.encode("latin-1")
    )
    junk = st.binary(max_size=6).map(lambda b: b.translate(None, b'\r\n",'))
    never_utf8 = st.sampled_from([0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFF]).map(lambda byte: bytes([byte]))
    value = draw(st.one_of(latin1, st.tuples(junk, never_utf8, junk).map(b"".join)))
    column = draw(st.sampled_from(["equipment", "status", *SENSOR_NAMES]))
    replace_cell(draw, file, column, value, r"line {0} is not UTF-8 text \(byte 0x[0-9a-f]{{2}}\)")


def huge_line(draw: st.DrawFn, file: CsvFile) -> None:
    size = draw(st.sampled_from([MAX_LINE_BYTES, 64_000, 1_100_000]))  # with the other cells: too long
    column = draw(st.sampled_from(HEADER))
    replace_cell(draw, file, column, b"9" * size, rf"line {{0}} is longer than {MAX_LINE_BYTES} bytes")


def truncated_line(draw: st.DrawFn, file: CsvFile) -> None:
    line = pick_line(draw, file)
    if line is None:
        return
    kept = draw(st.integers(1, len(line.cells) - 1))
    dropped = "|".join(file.order[kept:])
    del line.cells[kept:]
    line.intact = False
    file.expected.append((rf"line {{0}}, column ({dropped}): missing", (line,)))


def too_many_fields(draw: st.DrawFn, file: CsvFile) -> None:
    line = pick_line(draw, file)
    if line is None:
        return
    line.cells += draw(st.lists(st.sampled_from([b"0", b"1.5", b"extra", b"x"]), min_size=1, max_size=3))
    line.intact = False
    file.expected.append((r"line {0} has (more than \d+|\d+) fields", (line,)))


def blank_line(draw: st.DrawFn, file: CsvFile) -> None:
    line = Line([b""], intact=False)
    file.lines.insert(draw(st.integers(0, len(file.lines) - 1)), line)  # before a reading: not the end
    file.expected.append((r"line {0}: an empty line", (line,)))


def line_break_in_a_value(draw: st.DrawFn, file: CsvFile) -> None:
    """Valid RFC 4180, but a reading spanning lines would shift every line number after it."""
    replace_cell(draw, file, "equipment", b'"HT\n01"', r"line {0} has a quote that is never closed")


def carriage_return_in_a_line(draw: st.DrawFn, file: CsvFile) -> None:
    column = draw(st.sampled_from(HEADER))
    line = pick_line(draw, file, column)
    if line is None:
        return
    line.cells[file.column(column)] = b"\r" + line.cells[file.column(column)]  # never the file's last byte
    file.expected.append((r"line {0} has a carriage return \(\\r\) without a newline", (line,)))


def unknown_equipment(draw: st.DrawFn, file: CsvFile) -> None:
    """An unknown site is refused even with --create-missing; an unknown truck only without it."""
    if file.create_missing:
        pattern = r"line {0}, column equipment: unknown equipment '.*' at site 'elsewhere'"
        replace_cell(draw, file, "site", b"elsewhere", pattern)
    else:
        pattern = r"line {0}, column equipment: unknown equipment 'HT-99' at site 'pit'"
        replace_cell(draw, file, "equipment", b"HT-99", pattern)


LINE_CORRUPTIONS: list[Corruption] = [
    wrong_header,
    text_in_a_number,
    bad_timestamp,
    bad_status,
    missing_value,
    not_finite,
    out_of_range,
    conflicting_repeat,
    not_utf8,
    huge_line,
    truncated_line,
    too_many_fields,
    blank_line,
    line_break_in_a_value,
    carriage_return_in_a_line,
    unknown_equipment,
]


def whole_file(draw: st.DrawFn, file: CsvFile) -> None:
    """Nothing to read, or not a UTF-8 file of readings at all."""
    header = ",".join(file.header).encode()
    how = draw(
        st.sampled_from(
            ["empty", "bom only", "header only", "blank lines", "blank header", "utf-16", "gzip cut"]
        )
    )
    file.compressed = how == "gzip cut"
    if how == "empty":
        content, pattern = b"", "the file is empty"
    elif how == "bom only":
        content, pattern = codecs.BOM_UTF8, "the file is empty"
    elif how == "header only":
        content, pattern = header + file.line_end * draw(st.integers(0, 1)), "no readings after the header"
    elif how == "blank lines":
        content, pattern = header + file.line_end * 3, "line 2: an empty line"
    elif how == "blank header":
        content, pattern = file.line_end + file.render(), "line 1 is empty: expected the header"
    elif how == "utf-16":
        content, pattern = file.render().decode("utf-8-sig").encode("utf-16"), "line 1 is not UTF-8 text"
    else:
        compressed = file.render()
        content, pattern = compressed[: draw(st.integers(2, len(compressed) - 1))], "damaged gzip data"
    file.replaced_by = content
    file.expected.append((pattern, ()))


@st.composite
def corrupted_files(draw: st.DrawFn) -> CsvFile:
    file = draw(valid_files())
    if draw(st.integers(0, 5)) == 0:
        whole_file(draw, file)
    else:
        for corruption in draw(st.lists(st.sampled_from(LINE_CORRUPTIONS), min_size=1, max_size=3)):
            corruption(draw, file)
    return file


@settings(FUZZ, max_examples=60)
@given(file=corrupted_files(), kind=st.sampled_from(["auto", "truck"]))
def test_a_corrupted_file_is_refused_in_one_line_naming_where_and_why_and_nothing_is_written(
    trucks, tmp_path, file, kind
):
    path = write(tmp_path, file)
    with rolled_back():
        before = stored_state()

        with pytest.raises(CommandError) as refused:
            run(path, "--kind", kind, *file.arguments())

        message = str(refused.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert any(re.search(pattern, message) for pattern in file.patterns()), (
            message[:500],
            file.patterns(),
        )
        assert stored_state() == before


# --- The byte guard: its verdict does not depend on how the bytes arrive


class Trickle(io.RawIOBase):
    """A source that hands out its bytes in the given block sizes (cycled), as gzip or a pipe may."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self.data, self.sizes, self.position, self.reads = data, sizes, 0, 0

    def read(self, size: int = -1) -> bytes:
        size = min(size, self.sizes[self.reads % len(self.sizes)])
        self.reads += 1
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


def guard_verdict(data: bytes, sizes: list[int]) -> str | None:
    guard = csvformat._GuardedStream(Trickle(data, sizes))
    buffer = bytearray(64)
    try:
        while guard.readinto(buffer):
            pass
    except csvformat.CsvFormatError as error:
        return str(error)
    return None


def first_bad_line(data: bytes, max_line_bytes: int) -> tuple[int, list[str]] | None:
    """The guard's rules read line by line: the first bad line and what is wrong with it (which of several
    problems on one line is named may depend on which block showed it first)."""
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        problems = []
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append("is not UTF-8 text")
        if len(line) > max_line_bytes:
            problems.append("is longer than")
        if b"\r" in line[:-1]:  # a \r ending a line is the \r of \r\n (or the file's last byte)
            problems.append("has a carriage return")
        if line.count(b'"') % 2:
            problems.append("has a quote that is never closed")
        if problems:
            return number, problems
    return None


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(
        st.sampled_from([b"a", b",", b'"', b"\n", b"\r", b"\r\n", "é".encode(), b"\xc3", b"\xa9", b"\xff"]),
        max_size=40,
    ).map(b"".join),
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=6),
)
def test_the_byte_guard_names_the_same_line_however_the_bytes_arrive(data, sizes):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csvformat, "MAX_LINE_BYTES", 12)
        verdict = guard_verdict(data, sizes)
    expected = first_bad_line(data, 12)

    if expected is None:
        assert verdict is None
    else:
        line, problems = expected
        assert verdict is not None and any(
            verdict.startswith(f"line {line} {problem}") for problem in problems
        )


# --- Regressions: bugs these properties found, as plain examples


def refused_without_a_trace(path: str) -> str:
    """The command's one-line error; nothing written, no equipment state moved."""
    before = stored_state()
    with pytest.raises(CommandError) as refused:
        run(path)
    assert stored_state() == before
    message = str(refused.value)
    assert "\n" not in message
    return message


def write_bytes(tmp_path, content: bytes) -> str:
    path = tmp_path / "readings.csv"
    path.write_bytes(content)
    return str(path)


def write_lines(tmp_path, lines: list[str]) -> str:
    return write_bytes(tmp_path, ("\n".join(lines) + "\n").encode())


CSV_HEADER = ",".join(HEADER)


def test_the_same_truck_and_time_twice_with_different_values_is_refused_naming_both_lines(trucks, tmp_path):
    """It was stored from the first line while the truck's state took the second's values."""
    path = write_lines(
        tmp_path, [CSV_HEADER, row(ts=ts(0)), row("HT-02", ts=ts(0)), row(ts=ts(0), health=50), row(ts=ts(5))]
    )

    message = refused_without_a_trace(path)

    assert (
        "1 bad row(s), nothing imported: line 4, column health: 50.0 here but 88.0 on line 2 for 'HT-01'"
        in message
    )


def test_times_that_differ_below_a_microsecond_are_the_same_stored_time(trucks, tmp_path):
    path = write_lines(
        tmp_path,
        [
            CSV_HEADER,
            row(ts="2031-03-01T06:00:00.0000001Z", status="loading"),
            row(ts="2031-03-01T06:00:00Z"),
        ],
    )

    assert "line 3, column status: 'hauling' here but 'loading' on line 2" in refused_without_a_trace(path)


def test_a_conflicting_repeat_in_a_later_chunk_is_named_by_its_own_lines(trucks, tmp_path):
    lines = [CSV_HEADER, row(ts=ts(0)), row(ts=ts(1)), row(ts=ts(2)), row(ts=ts(3)), row(ts=ts(3), health=50)]

    with pytest.raises(ingest.ImportFailed, match=r"line 6, column health: 50\.0 here but 88\.0 on line 5 "):
        ingest.import_readings_csv(path=write_lines(tmp_path, lines), chunk_rows=3)

    assert not TruckReading.objects.exists()


def test_the_same_reading_twice_is_stored_once_and_counted_as_a_duplicate(trucks, tmp_path):
    path = write_lines(
        tmp_path,
        [
            CSV_HEADER,
            row(ts="2031-03-01T06:00:00.000000Z"),
            row(ts="2031-03-01T08:00:00+02:00", health="88.0"),
        ],
    )

    assert "imported 1 truck readings of 2 rows; 1 duplicates skipped" in run(path)
    assert TruckReading.objects.count() == 1


def test_a_sensor_column_of_only_true_and_false_is_not_a_number(trucks, tmp_path):
    """pandas reads such a column as booleans, which were stored as 1 and 0."""
    path = write_lines(tmp_path, [CSV_HEADER, row(ts=ts(0), health="True"), row(ts=ts(1), health="false")])

    message = refused_without_a_trace(path)

    assert (
        "line 2, column health: 'True' is not a number; line 3, column health: 'False' is not a number"
        in message
    )


def test_a_quoted_line_break_is_refused_at_its_line_rather_than_shifting_the_lines_after_it(trucks, tmp_path):
    path = write_lines(
        tmp_path, [CSV_HEADER, row(ts=ts(0)), row('"HT\n01"', ts=ts(1)), row(ts=ts(2), health="x")]
    )

    assert "line 3 has a quote that is never closed: a reading is one line" in refused_without_a_trace(path)


def test_a_quote_left_open_on_the_last_line_is_named(trucks, tmp_path):
    """pandas said only "EOF inside string starting at row 0"."""
    path = write_bytes(tmp_path, f'{CSV_HEADER}\n{row(ts=ts(0))}\n{row(ts=ts(1))},"5'.encode())

    assert "line 3 has a quote that is never closed" in refused_without_a_trace(path)


def test_bytes_that_are_not_utf8_are_named_by_line(trucks, tmp_path):
    lines = [CSV_HEADER, row(ts=ts(0)), row(ts=ts(1)), row("Camión", ts=ts(2))]
    path = write_bytes(tmp_path, ("\n".join(lines) + "\n").encode("latin-1"))

    assert "line 4 is not UTF-8 text (byte 0xf3): save the file as UTF-8" in refused_without_a_trace(path)


def test_utf16_with_windows_line_endings_is_called_not_utf8(trucks, tmp_path):
    path = write_bytes(tmp_path, f"{CSV_HEADER}\r\n{row()}\r\n".encode("utf-16"))

    assert "line 1 is not UTF-8 text (byte 0xff)" in refused_without_a_trace(path)


def test_old_mac_line_endings_are_refused_in_one_line_not_with_a_traceback(trucks, tmp_path):
    """The header's csv.Error ("new-line character seen in unquoted field") escaped as a traceback."""
    path = write_bytes(tmp_path, f"{CSV_HEADER}\r{row()}\r".encode())

    assert "line 1 has a carriage return (\\r) without a newline" in refused_without_a_trace(path)


def test_a_file_holding_only_a_byte_order_mark_is_empty(trucks, tmp_path):
    assert refused_without_a_trace(write_bytes(tmp_path, codecs.BOM_UTF8)).endswith(": the file is empty")


def test_an_invisible_character_in_a_column_name_is_shown(trucks, tmp_path):
    """The message listed the header as it looked: identical to the right one."""
    path = write_lines(tmp_path, [CSV_HEADER + "\x00", row()])

    assert "line 1, column 15: 'health\\x00' is not a column name" in refused_without_a_trace(path)


def test_a_blank_line_is_called_empty_rather_than_missing_a_site(trucks, tmp_path):
    path = write_lines(tmp_path, [CSV_HEADER, row(ts=ts(0)), "", row(ts=ts(1))])

    assert "1 bad row(s), nothing imported: line 3: an empty line" in refused_without_a_trace(path)
