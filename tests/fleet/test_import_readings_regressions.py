"""`import_readings` on the bugs the generated-file properties found (issue 10), as plain examples: each
bad file is refused in one line naming the line and the reason, and nothing is written."""

from __future__ import annotations

import codecs

import pytest
from django.core.management import CommandError

from fleet import ingest
from fleet.models import TruckReading
from tests.fleet.csvfuzz import HEADER, known_trucks, stored_state
from tests.fleet.test_import_readings import row, run, ts

pytestmark = pytest.mark.django_db


@pytest.fixture
def trucks():
    return known_trucks()


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
