"""`import_readings` under generated input (issue 10): a valid file imports exactly what it says; a file with
any corruption is refused in one line naming the line (and column) and the reason, and nothing is written.

Each hypothesis example runs in a savepoint that is rolled back, so every example starts from the trucks the
fixture made (which is why the function-scoped-fixture health check is off).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import CommandError
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet import csvformat
from fleet.models import Truck, TruckReading
from tests.fleet.csvcorruptions import corrupted_files
from tests.fleet.csvfuzz import NEW_TRUCK, SENSOR_NAMES, known_trucks, stored_state, valid_files, write
from tests.fleet.test_import_readings import run

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def trucks():
    return known_trucks()


@contextmanager
def rolled_back() -> Iterator[None]:
    """One hypothesis example: whatever it writes is undone before the next."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# --- Valid files


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


# --- Corrupted files (tests/fleet/csvcorruptions.py)


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
