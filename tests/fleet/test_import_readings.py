import gzip
import io

import pytest
from django.core.management import CommandError, call_command

from fleet import ingest
from fleet.csvformat import MAX_LINE_BYTES, columns
from fleet.models import Truck, TruckReading
from plants.models import CrusherReading
from tests.factories import CrusherFactory, SiteFactory, TruckFactory

pytestmark = pytest.mark.django_db

HEADER = ",".join(columns("truck"))


def row(equipment="HT-01", ts="2031-03-01T06:00:00.000000Z", status="hauling", site="pit", **values) -> str:
    sensors = {
        "lat": -22.3,
        "lon": 118.6,
        "heading_deg": 90,
        "speed_kmh": 32.5,
        "payload_t": 221.4,
        "fuel_l": 2500,
        "engine_temp_c": 92,
        "tyre_pressure_kpa": 720,
        "vibration_mm_s": 2.1,
        "engine_hours": 31000.5,
        "health": 88,
    }
    sensors.update(values)
    return ",".join([site, equipment, ts, status, *(str(v) for v in sensors.values())])


def ts(second: int) -> str:
    return f"2031-03-01T06:{second // 60:02d}:{second % 60:02d}.000000Z"


@pytest.fixture
def trucks():
    site = SiteFactory(slug="pit")
    return [TruckFactory(site=site, name="HT-01"), TruckFactory(site=site, name="HT-02")]


def write(tmp_path, lines, name="readings.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def run(path, *args) -> str:
    out = io.StringIO()
    call_command("import_readings", path, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(path, *args) -> str:
    with pytest.raises(CommandError) as error:
        run(path, *args)
    assert not TruckReading.objects.exists()
    return str(error.value)


def test_it_imports_every_row_and_says_how_many(trucks, tmp_path):
    path = write(tmp_path, [HEADER, row(ts=ts(0)), row(ts=ts(5)), row("HT-02", ts=ts(0))])

    output = run(path)

    assert "imported 3 truck readings of 3 rows; 0 duplicates skipped" in output
    assert TruckReading.objects.count() == 3
    assert Truck.objects.get(name="HT-01").last_reading_at.second == 5


def test_rows_already_stored_are_reported_as_duplicates(trucks, tmp_path):
    path = write(tmp_path, [HEADER, row(ts=ts(0)), row(ts=ts(5))])
    run(path)

    assert "imported 0 truck readings of 2 rows; 2 duplicates skipped" in run(path)
    assert TruckReading.objects.count() == 2


def test_a_gzip_file_is_read_by_its_content(trucks, tmp_path):
    path = tmp_path / "readings.csv"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(f"{HEADER}\n{row()}\n".encode()))

    assert "imported 1 truck readings" in run(str(path))


def test_the_kind_is_detected_from_the_header(tmp_path):
    crusher = CrusherFactory(site=SiteFactory(slug="pit"), name="CR-01")
    header = ",".join(columns("crusher"))
    path = write(tmp_path, [header, f"pit,CR-01,{ts(0)},running,1850,320,92.5,55,3.1,410,35,91"])

    run(path)

    assert CrusherReading.objects.get(equipment=crusher).throughput_tph == 1850


def test_a_dry_run_checks_and_counts_but_writes_nothing(trucks, tmp_path):
    path = write(tmp_path, [HEADER, row(ts=ts(0)), row(ts=ts(5))])

    assert "would import 2 truck readings" in run(path, "--dry-run")
    assert not TruckReading.objects.exists()


def test_unknown_equipment_is_created_only_when_asked(trucks, tmp_path):
    path = write(tmp_path, [HEADER, row("HT-99")])
    assert "line 2, column equipment: unknown equipment 'HT-99' at site 'pit'" in refused(path)

    output = run(path, "--create-missing")

    assert "created equipment: pit/HT-99" in output
    assert Truck.objects.get(name="HT-99").readings.count() == 1


@pytest.mark.parametrize(
    ("bad_row", "expected"),
    [
        (row(payload_t=-3), "line 3, column payload_t: -3 t is below the minimum 0 t"),
        (row(fuel_l=5200), "line 3, column fuel_l: 5200 L is more than its fuel tank (4921 L)"),
        (row(speed_kmh="nan"), "line 3, column speed_kmh: 'nan' is not a number"),
        (row(speed_kmh=""), "line 3, column speed_kmh: missing"),
        (row(engine_temp_c="inf"), "line 3, column engine_temp_c: not a finite number"),
        (row(health="good"), "line 3, column health: 'good' is not a number"),
        (row(ts="2031-03-01T06:00:00"), "line 3, column ts: '2031-03-01T06:00:00' has no time zone"),
        (row(ts="yesterday+01:00"), "line 3, column ts: 'yesterday+01:00' is not an ISO 8601 time"),
        (row(status="flying"), "line 3, column status: 'flying' is not a truck status"),
        (row(site="elsewhere"), "line 3, column equipment: unknown equipment 'HT-01' at site 'elsewhere'"),
    ],
)
def test_a_bad_row_refuses_the_whole_file_naming_line_column_and_reason(trucks, tmp_path, bad_row, expected):
    path = write(tmp_path, [HEADER, row("HT-02", ts=ts(0)), bad_row])

    message = refused(path)

    assert "1 bad row(s), nothing imported" in message
    assert expected in message


def test_bad_rows_in_a_later_chunk_undo_the_chunks_already_written(trucks, tmp_path):
    path = write(tmp_path, [HEADER, *(row(ts=ts(i)) for i in range(5)), row(ts=ts(9), payload_t=-1)])

    with pytest.raises(ingest.ImportFailed, match="line 7, column payload_t"):
        ingest.import_readings_csv(path=path, chunk_rows=2)

    assert not TruckReading.objects.exists()


def test_the_first_bad_rows_are_listed_with_the_total(trucks, tmp_path):
    path = write(tmp_path, [HEADER, *(row(ts=ts(i), payload_t=-1) for i in range(30))])

    message = refused(path)

    assert message.startswith(f"{path}: 30 bad row(s), nothing imported: line 2, column payload_t")
    assert "line 21," in message and "line 22," not in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (f"{HEADER}\n".encode(), "no readings after the header"),
        (b"site,equipment,ts,status,colour\npit,HT-01,x,y,red\n", "the header matches no equipment kind"),
        (f"{HEADER}\n{row()}\n".encode("utf-16"), "not UTF-8"),
        (f"{HEADER}\n{row(equipment='Camión-1')}\n".encode("latin-1"), "not UTF-8 text (byte 0xf3)"),
        (f"{HEADER}\n{row()},extra\n".encode(), "line 2 has more than 15 fields"),
        (f"{HEADER}\n{row()}\n{'9' * (MAX_LINE_BYTES + 10)}\n".encode(), "line 3 is longer than"),
        (gzip.compress(f"{HEADER}\n{row()}\n".encode())[:-12], "damaged gzip data"),
    ],
)
def test_an_unreadable_file_is_refused_in_one_line(trucks, tmp_path, content, expected):
    path = tmp_path / "readings.csv"
    path.write_bytes(content)

    message = refused(str(path))

    assert expected in message
    assert "\n" not in message


def test_columns_that_do_not_match_the_kind_are_named(trucks, tmp_path):
    path = write(tmp_path, [HEADER.replace(",health", ",colour"), row()])

    message = refused(path, "--kind", "truck")

    assert "columns do not match truck readings: missing health; unexpected colour" in message


def test_a_missing_file_is_refused(tmp_path):
    assert "cannot open" in refused(str(tmp_path / "nope.csv"))


def test_a_later_row_with_too_many_fields_is_named(trucks, tmp_path):
    path = write(tmp_path, [HEADER, row(ts=ts(0)), row(ts=ts(1)) + ",extra"])

    assert "line 3 has 16 fields, expected 15" in refused(path)


def test_an_import_interrupted_halfway_leaves_nothing_behind(trucks, tmp_path, monkeypatch):
    path = write(tmp_path, [HEADER, *(row(ts=ts(i)) for i in range(6))])
    real_ingest, calls = ingest.readings.ingest_readings, []

    def ingest_then_interrupt(kind, rows, **options):
        calls.append(len(rows))
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after the first chunk was written
        return real_ingest(kind, rows, **options)

    monkeypatch.setattr(ingest.readings, "ingest_readings", ingest_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ingest.import_readings_csv(path=path, chunk_rows=2)

    assert not TruckReading.objects.exists()
