"""Corruptions of generated CSV files: each changes a valid file and says what the error may say."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

from hypothesis import strategies as st

from fleet.csvformat import MAX_LINE_BYTES
from fleet.sim.schema import SENSORS
from tests.fleet.csvfuzz import HEADER, SENSOR_NAMES, STATUSES, CsvFile, Line, sensor_values, valid_files

Corruption = Callable[[st.DrawFn, CsvFile], None]

HEADER_REFUSED = (
    r"(the header matches no equipment kind"
    r"|columns do not match truck readings: missing .*; unexpected"
    r"|line 1, column \d+: .* is not a column name)"
)
header_names = st.text(st.characters(codec="utf-8", exclude_characters=',"\r\n'), min_size=1, max_size=10)


def pick_line(draw: st.DrawFn, file: CsvFile, column: str | None = None) -> Line | None:
    """An intact line, or with `column` any line that has it (a truncated one may not). Never a blank line:
    its one empty cell would pass for the first column's, and writing there makes it a line that is no
    longer blank, so the "an empty line" it is expected to raise would not come (seen with `equipment`
    first)."""
    if column is None:
        lines = [line for line in file.lines if line.intact]
    else:
        lines = [line for line in file.lines if len(line.cells) > file.column(column) and line.cells != [b""]]
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
