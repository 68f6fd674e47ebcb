import datetime as dt

import pytest

from fleet import readings
from tests.apiclients import assert_error, role_client
from tests.factories import CrusherFactory, StockpileFactory, TruckFactory, reading

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 3, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def viewer():
    return role_client("viewer")


def store(kind: str, unit, seconds: list[int], **values) -> None:
    rows = [reading(kind, unit.pk, T0 + dt.timedelta(seconds=s), _status(kind), **values) for s in seconds]
    readings.ingest_readings(kind, rows)


def _status(kind: str) -> str:
    return {"truck": "hauling", "crusher": "running", "stockpile": "normal"}[kind]


def test_raw_readings_in_the_range_oldest_first_with_chosen_fields(viewer):
    truck = TruckFactory()
    store("truck", truck, [0, 10, 20, 30])

    response = viewer.get(
        f"/api/trucks/{truck.pk}/readings",
        {"from": "2025-03-01T06:00:05Z", "to": "2025-03-01T06:00:30Z", "fields": "speed_kmh,payload_t"},
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["kind"] == "truck" and body["equipment_id"] == truck.pk and body["name"] == truck.name
    assert body["fields"] == ["speed_kmh", "payload_t"]
    assert body["interval"] is None
    assert [row["ts"] for row in body["results"]] == [
        "2025-03-01T06:00:10+00:00",
        "2025-03-01T06:00:20+00:00",
    ]
    assert set(body["results"][0]) == {"ts", "status", "speed_kmh", "payload_t"}
    assert body["next"] is None


def test_without_a_range_it_answers_the_hour_before_the_newest_reading(viewer):
    truck = TruckFactory()
    store("truck", truck, [0, 1800, 4000])

    body = viewer.get(f"/api/trucks/{truck.pk}/readings").json()

    assert [row["ts"][11:19] for row in body["results"]] == ["06:30:00", "07:06:40"]


def test_raw_readings_page_by_cursor_without_gaps_or_repeats(viewer):
    truck = TruckFactory()
    store("truck", truck, list(range(0, 50, 2)))
    url = f"/api/trucks/{truck.pk}/readings?from=2025-03-01T06:00:00Z&to=2025-03-01T07:00:00Z&limit=10"

    seen = []
    while url:
        body = viewer.get(url).json()
        seen += [row["ts"] for row in body["results"]]
        url = body["next"]

    assert len(seen) == 25 == len(set(seen))
    assert seen == sorted(seen)


def test_too_many_raw_readings_is_a_400_that_suggests_an_interval(viewer, monkeypatch):
    from fleet.api import serializers

    monkeypatch.setattr(serializers, "RAW_POINTS_LIMIT", 5)
    truck = TruckFactory()
    store("truck", truck, list(range(6)))

    response = viewer.get(
        f"/api/trucks/{truck.pk}/readings?from=2025-03-01T06:00:00Z&to=2025-03-01T07:00:00Z"
    )

    details = assert_error(response, 400, "invalid")
    assert "interval=10s" in details["interval"][0]


def test_an_interval_aggregates_into_buckets_in_the_database(viewer):
    truck = TruckFactory()
    rows = [
        reading("truck", truck.pk, T0 + dt.timedelta(seconds=s), "hauling", speed_kmh=v)
        for s, v in [(0, 10.0), (30, 20.0), (60, 40.0), (150, 5.0)]
    ]
    readings.ingest_readings("truck", rows)

    body = viewer.get(
        f"/api/trucks/{truck.pk}/readings",
        {
            "from": "2025-03-01T06:00:00Z",
            "to": "2025-03-01T06:05:00Z",
            "interval": "1m",
            "fields": "speed_kmh",
        },
    ).json()

    assert body["interval"] == "1m"
    assert body["results"] == [
        {"bucket": "2025-03-01T06:00:00+00:00", "samples": 2, "speed_kmh_avg": 15.0, "speed_kmh_min": 10.0,
         "speed_kmh_max": 20.0},
        {"bucket": "2025-03-01T06:01:00+00:00", "samples": 1, "speed_kmh_avg": 40.0, "speed_kmh_min": 40.0,
         "speed_kmh_max": 40.0},
        {"bucket": "2025-03-01T06:02:00+00:00", "samples": 1, "speed_kmh_avg": 5.0, "speed_kmh_min": 5.0,
         "speed_kmh_max": 5.0},
    ]  # fmt: skip


def test_buckets_align_on_whole_intervals_whatever_the_start(viewer):
    truck = TruckFactory()
    store("truck", truck, [0, 20 * 60])

    body = viewer.get(
        f"/api/trucks/{truck.pk}/readings",
        {"from": "2025-03-01T05:53:00Z", "to": "2025-03-01T06:30:00Z", "interval": "15m", "fields": "health"},
    ).json()

    assert [row["bucket"][11:16] for row in body["results"]] == ["06:00", "06:15"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"fields": "speed_kmh,warp_factor"}, "fields"),
        ({"interval": "fortnightly"}, "interval"),
        ({"interval": "0m"}, "interval"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2025-03-01T07:00:00Z", "to": "2025-03-01T06:00:00Z"}, "from"),
        ({"from": "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from"),
        ({"from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z", "interval": "1s"}, "interval"),
    ],
)
def test_bad_history_parameters_are_400_naming_the_parameter(viewer, query, field):
    truck = TruckFactory()

    details = assert_error(viewer.get(f"/api/trucks/{truck.pk}/readings", query), 400, "invalid")

    assert field in details


def test_history_of_a_missing_truck_is_404(viewer):
    assert_error(viewer.get("/api/trucks/424242/readings"), 404, "not_found")


@pytest.mark.parametrize(
    ("kind", "factory", "path", "field"),
    [
        ("crusher", CrusherFactory, "crushers", "throughput_tph"),
        ("stockpile", StockpileFactory, "stockpiles", "level_t"),
    ],
)
def test_crushers_and_stockpiles_have_the_same_history_endpoint(viewer, kind, factory, path, field):
    unit = factory()
    store(kind, unit, [0, 60])

    raw = viewer.get(f"/api/{path}/{unit.pk}/readings", {"fields": field}).json()
    buckets = viewer.get(
        f"/api/{path}/{unit.pk}/readings",
        {"from": "2025-03-01T06:00:00Z", "to": "2025-03-01T06:02:00Z", "interval": "1h", "fields": field},
    ).json()

    assert raw["kind"] == kind and len(raw["results"]) == 2 and field in raw["results"][0]
    assert buckets["results"][0]["samples"] == 2
    assert f"{field}_max" in buckets["results"][0]
