"""Generated truck-reading CSV files for the `import_readings` properties: valid files and what they hold.

A CsvFile is rendered to bytes only when written, so corruptions (tests/fleet/csvcorruptions.py) can change
its lines, header or encoding first and record what the command's error may say.
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
from dataclasses import dataclass, field

from hypothesis import strategies as st

from fleet.csvformat import columns
from fleet.models import Truck, TruckReading
from fleet.sim.schema import SENSORS, TruckStatus
from tests.factories import SiteFactory, TruckFactory

KNOWN_TRUCKS = ("HT-01", "HT-02")
NEW_TRUCK = "HT-77"  # only in files imported with --create-missing
TANK_L = 4921.0  # the trucks' fuel tank: fuel_l above it is refused
START = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
SPAN_US = 2 * 86_400 * 1_000_000  # two days: two daily partitions
HEADER = columns("truck")
SENSOR_NAMES = list(SENSORS["truck"])
STATUSES = [status.value for status in TruckStatus]
ZONES = ["Z", 0, 330, -240, 600]  # "Z" or minutes east of UTC


def known_trucks() -> list[Truck]:
    """The trucks a generated file may name without --create-missing, at site "pit", with TANK_L tanks."""
    site = SiteFactory(slug="pit")
    return [TruckFactory(site=site, name=name, fuel_tank_l=TANK_L) for name in KNOWN_TRUCKS]


def stored_state() -> tuple:
    """Everything an import may write: readings, equipment and each truck's current state."""
    trucks = Truck.objects.order_by("name").values_list("name", "last_reading_at", "status", *SENSOR_NAMES)
    return TruckReading.objects.count(), list(trucks)


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
