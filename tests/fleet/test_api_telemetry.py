import datetime as dt

import pytest

from fleet.models import Truck, TruckReading
from fleet.telemetry import MAX_BATCH
from plants.models import CrusherReading
from tests.apiclients import assert_error, role_client
from tests.factories import CrusherFactory, TruckFactory, reading

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2025, 3, 1, 6, 0, tzinfo=dt.UTC)


@pytest.fixture
def gateway():
    return role_client("gateway")


def item(kind: str, unit, seconds: int = 0, **values) -> dict:
    row = reading(
        kind, unit.pk, T0 + dt.timedelta(seconds=seconds), "hauling" if kind == "truck" else "running"
    )
    row |= values
    row["ts"] = (
        row["ts"].isoformat().replace("+00:00", "Z") if isinstance(row["ts"], dt.datetime) else row["ts"]
    )
    row.pop("equipment_id")
    return {"kind": kind, "equipment_id": unit.pk, **row}


def test_a_good_batch_is_stored_and_the_equipment_marked_live(gateway):
    truck, crusher = TruckFactory(), CrusherFactory()

    response = gateway.post(
        "/api/telemetry",
        {
            "readings": [
                item("truck", truck, 0),
                item("truck", truck, 5, speed_kmh=33.0),
                item("crusher", crusher),
            ]
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json() == {
        "received": 3, "accepted": 3, "inserted": 3, "duplicates": 0, "marked_live": 2, "rejected": []
    }  # fmt: skip
    assert TruckReading.objects.filter(equipment=truck).count() == 2
    assert CrusherReading.objects.filter(equipment=crusher).count() == 1
    truck.refresh_from_db()
    assert truck.live and truck.speed_kmh == 33.0 and truck.status == "hauling"
    assert truck.last_reading_at == T0 + dt.timedelta(seconds=5)


def test_resending_a_batch_is_idempotent(gateway):
    truck = TruckFactory()
    batch = {"readings": [item("truck", truck, 0), item("truck", truck, 5)]}
    gateway.post("/api/telemetry", batch, format="json")

    body = gateway.post("/api/telemetry", batch, format="json").json()

    assert body["accepted"] == 2 and body["inserted"] == 0 and body["duplicates"] == 2
    assert TruckReading.objects.filter(equipment=truck).count() == 2


def test_bad_items_are_rejected_with_reasons_and_the_good_ones_kept(gateway):
    truck = TruckFactory(fuel_tank_l=4921.0)
    batch = [
        item("truck", truck, 0),
        item("truck", truck, 1, fuel_l=5200.0),
        item("truck", truck, 2, ts="2025-03-01T06:00:02"),
        item("truck", truck, 3, status="parked"),
        item("truck", truck, 4, speed_kmh="fast"),
        item("truck", truck, 5, payload_t=401.0),
        {**item("truck", truck, 6), "equipment_id": 999999},
        {**item("truck", truck, 7), "kind": "dozer"},
        item("truck", truck, 0),
        "not an object",
        {k: v for k, v in item("truck", truck, 9).items() if k != "health"},
        item("truck", truck, 10, ts="2099-01-01T00:00:00Z"),
        item("truck", truck, 11, ts="half past six"),
        {**item("truck", truck, 12), "equipment_id": True},
    ]

    body = gateway.post("/api/telemetry", {"readings": batch}, format="json").json()

    reasons = {entry["index"]: entry["errors"] for entry in body["rejected"]}
    assert body["received"] == 14 and body["accepted"] == 1 and body["inserted"] == 1
    assert "fuel tank" in reasons[1]["fuel_l"][0]
    assert "time zone" in reasons[2]["ts"][0]
    assert "parked" in reasons[3]["status"][0]
    assert reasons[4]["speed_kmh"] == ["must be a number"]
    assert "maximum 400" in reasons[5]["payload_t"][0]
    assert "no truck with id 999999" in reasons[6]["equipment_id"][0]
    assert "dozer" in reasons[7]["kind"][0]
    assert "repeats" in reasons[8]["ts"][0]
    assert reasons[9] == {"non_field_errors": ["must be an object"]}
    assert reasons[10] == {"health": ["missing"]}
    assert "future" in reasons[11]["ts"][0]
    assert "ISO 8601" in reasons[12]["ts"][0]
    assert reasons[13]["equipment_id"] == ["must be a whole number"]
    assert TruckReading.objects.filter(equipment=truck).count() == 1


def test_a_batch_must_be_a_list_of_readings(gateway):
    details = assert_error(gateway.post("/api/telemetry", {"rows": []}, format="json"), 400, "invalid")

    assert details == {"readings": ["required: a list of readings"]}


def test_a_batch_larger_than_the_limit_is_refused_whole(gateway):
    truck = TruckFactory()
    batch = [item("truck", truck, n) for n in range(MAX_BATCH + 1)]

    assert_error(gateway.post("/api/telemetry", {"readings": batch}, format="json"), 413, "payload_too_large")
    assert not TruckReading.objects.exists()


def test_bad_json_is_a_400_in_the_error_shape(gateway):
    response = gateway.post("/api/telemetry", data=b'{"readings": [', content_type="application/json")

    assert_error(response, 400, "parse_error")


def test_a_form_body_is_a_415(gateway):
    response = gateway.post("/api/telemetry", data="readings=1", content_type="text/plain")

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("role", ["viewer", "operator", "engineer"])
def test_only_gateways_may_post_telemetry(role):
    assert_error(
        role_client(role).post("/api/telemetry", {"readings": []}, format="json"), 403, "permission_denied"
    )


def test_telemetry_is_throttled_per_gateway(gateway, settings):
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "telemetry": "2/min"},
    }
    from rest_framework.throttling import SimpleRateThrottle

    original = SimpleRateThrottle.THROTTLE_RATES
    SimpleRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        codes = [
            gateway.post("/api/telemetry", {"readings": []}, format="json").status_code for _ in range(3)
        ]
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
        cache.clear()

    assert codes == [200, 200, 429]


def test_the_simulator_leaves_live_trucks_alone():
    truck = TruckFactory()
    from fleet import ingest

    ingest.ingest_telemetry(items=[item("truck", truck)])

    assert Truck.objects.get(pk=truck.pk).live


def test_a_batch_where_no_reading_has_a_time_rejects_each_one(gateway):
    """Found by the API fuzz: with every `ts` missing the column was numeric and the check failed (500)."""
    truck = TruckFactory()
    readings = [{k: v for k, v in item("truck", truck, n).items() if k != "ts"} for n in range(2)]

    response = gateway.post("/api/telemetry", {"readings": readings}, format="json")

    assert response.status_code == 200, response.content
    assert [row["errors"]["ts"] for row in response.json()["rejected"]] == [["missing"], ["missing"]]


@pytest.mark.parametrize("field", ["kind", "equipment_id"])
def test_an_object_where_a_value_belongs_rejects_the_reading(gateway, field):
    """Found by the API fuzz: `{}` as an id or a kind cannot be hashed, and the batch failed (500)."""
    truck = TruckFactory()

    response = gateway.post(
        "/api/telemetry", {"readings": [{**item("truck", truck), field: {}}]}, format="json"
    )

    assert response.status_code == 200, response.content
    assert list(response.json()["rejected"][0]["errors"]) == [field]
