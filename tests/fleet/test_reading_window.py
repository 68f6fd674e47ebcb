"""Readings within the window retention keeps (docs/history.md): telemetry, CSV import, the one ingestion
function and the headless simulator refuse times older than READINGS_RETENTION_DAYS or further ahead of
now than READINGS_FUTURE_MARGIN_S, and no partition is created for them."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fleet import partitions, readings, seeding
from fleet.csvformat import columns
from fleet.models import Site, TruckReading
from tests.apiclients import role_client
from tests.factories import SiteFactory, TruckFactory, reading

pytestmark = pytest.mark.django_db

TABLE = TruckReading._meta.db_table


@pytest.fixture(autouse=True)
def configured_window(settings):
    settings.READINGS_RETENTION_DAYS, settings.READINGS_FUTURE_MARGIN_S = 30, 300


def zulu(when: dt.datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def telemetry_item(truck, when: dt.datetime | str) -> dict:
    row = reading("truck", truck.pk, timezone.now(), "hauling")
    row["ts"] = when if isinstance(when, str) else zulu(when)
    return {"kind": "truck", **row}


def test_telemetry_refuses_a_reading_from_1800_and_one_beyond_the_margin_and_stores_the_rest():
    truck, now = TruckFactory(), timezone.now()
    batch = [
        telemetry_item(truck, "1800-01-01T00:00:00Z"),
        telemetry_item(truck, now + dt.timedelta(minutes=6)),
        telemetry_item(truck, now + dt.timedelta(minutes=4)),
        telemetry_item(truck, now - dt.timedelta(days=29)),
    ]

    response = role_client("gateway").post("/api/telemetry", {"readings": batch}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["inserted"]) == (2, 2)
    rejected = {item["index"]: item["errors"] for item in body["rejected"]}
    assert set(rejected) == {0, 1}
    assert rejected[0] == {"ts": [rejected[0]["ts"][0]]}
    assert "older than the 30 days of history kept" in rejected[0]["ts"][0]
    assert rejected[1] == {"ts": ["is more than 5 minutes in the future"]}
    assert TruckReading.objects.filter(equipment=truck).count() == 2


def test_the_margin_comes_from_the_setting(settings):
    settings.READINGS_FUTURE_MARGIN_S = 30
    truck = TruckFactory()
    batch = [telemetry_item(truck, timezone.now() + dt.timedelta(minutes=1))]

    body = role_client("gateway").post("/api/telemetry", {"readings": batch}, format="json").json()

    assert body["rejected"] == [{"index": 0, "errors": {"ts": ["is more than 30 seconds in the future"]}}]


def csv_row(when: str) -> str:
    sensors = ["-22.3", "118.6", "90", "32.5", "221.4", "2500", "92", "720", "2.1", "31000.5", "88"]
    return ",".join(["pit", "HT-01", when, "hauling", *sensors])


def test_a_csv_with_one_row_older_than_retention_is_refused_naming_the_line_and_nothing_is_written(tmp_path):
    TruckFactory(site=SiteFactory(slug="pit"), name="HT-01")
    recent = timezone.now() - dt.timedelta(hours=1)
    path = tmp_path / "readings.csv"
    lines = [",".join(columns("truck")), csv_row(zulu(recent)), csv_row("1800-01-01T00:00:00Z")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = partitions.partitions(TABLE)

    with pytest.raises(CommandError) as error:
        call_command("import_readings", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    message = str(error.value)
    assert "1 bad row(s), nothing imported" in message
    assert "line 3, column ts: '1800-01-01T00:00:00Z' is older than the 30 days of history kept" in message
    assert not TruckReading.objects.exists()
    assert partitions.partitions(TABLE) == before


def test_a_csv_row_beyond_the_margin_is_refused(tmp_path):
    TruckFactory(site=SiteFactory(slug="pit"), name="HT-01")
    ahead = zulu(timezone.now() + dt.timedelta(days=2))
    path = tmp_path / "readings.csv"
    path.write_text(f"{','.join(columns('truck'))}\n{csv_row(ahead)}\n", encoding="utf-8")

    with pytest.raises(CommandError) as error:
        call_command("import_readings", str(path), stdout=io.StringIO(), stderr=io.StringIO())

    assert f"line 2, column ts: '{ahead}' is more than 5 minutes in the future" in str(error.value)


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (dt.datetime(1800, 1, 1, tzinfo=dt.UTC), "older than the 30 days of history kept"),
        (dt.datetime(2200, 1, 1, tzinfo=dt.UTC), "is more than 5 minutes in the future"),
    ],
)
def test_ingest_readings_refuses_times_outside_the_window_and_creates_no_partition(when, reason):
    truck = TruckFactory()
    before = partitions.partitions(TABLE)
    batch = [
        reading("truck", truck.pk, timezone.now(), "hauling"),
        reading("truck", truck.pk, when, "hauling"),
    ]

    with pytest.raises(ValueError, match=reason):
        readings.ingest_readings("truck", batch)

    assert partitions.partitions(TABLE) == before
    assert not TruckReading.objects.exists()


def test_ingest_readings_takes_the_edges_of_the_window():
    truck, now = TruckFactory(), timezone.now()
    window = readings.kept_window(now)
    edges = [reading("truck", truck.pk, when, "hauling") for when in (window.start, window.end)]

    assert readings.ingest_readings("truck", edges, window=window).inserted == 2


def small_site(name: str, start: dt.datetime) -> Site:
    return seeding.seed_site(name=name, trucks=2, crushers=1, stockpiles=1, start=start).site


def test_simulate_moves_a_clock_older_than_retention_to_history_that_ends_now():
    site = small_site("Idle pit", timezone.now() - dt.timedelta(days=60))

    call_command("simulate", site="Idle pit", hours=0.2, seed=3, stdout=io.StringIO())

    oldest = TruckReading.objects.filter(equipment__site=site).order_by("ts").first().ts
    assert timezone.now() - dt.timedelta(hours=0.25) <= oldest <= timezone.now()


def test_simulate_refuses_history_older_than_retention_before_writing():
    site = small_site("Far pit", timezone.now() + dt.timedelta(days=300))

    with pytest.raises(CommandError, match=r"before the 30 days of history kept; at most 71\d\.\d h fit"):
        call_command("simulate", site="Far pit", hours=24 * 100, stdout=io.StringIO())

    assert not TruckReading.objects.filter(equipment__site=site).exists()
