"""The MQTT topic and payload format (pure: no broker, no database)."""

import json

import pytest

from fleet.mqttformat import (
    MAX_COLUMN_READINGS,
    MAX_READINGS_PER_MESSAGE,
    Address,
    BadMessage,
    decode,
    parse_topic,
    reason_of,
    rejected_topic,
)


def test_a_telemetry_topic_names_site_kind_and_equipment():
    assert parse_topic("smartmine/pit-1/truck/HT-01/telemetry") == Address("pit-1", "truck", "HT-01")


@pytest.mark.parametrize(
    "topic, words",
    [
        ("smartmine/pit-1/truck/HT-01", "smartmine/<site>/<kind>/<equipment>/telemetry"),
        ("other/pit-1/truck/HT-01/telemetry", "smartmine/<site>/<kind>/<equipment>/telemetry"),
        ("smartmine/pit-1/truck/HT-01/telemetry/rejected", "smartmine/<site>/<kind>/<equipment>/telemetry"),
        ("smartmine/pit-1/drone/D-1/telemetry", "'drone' is not one of truck, crusher, stockpile"),
        ("smartmine/pit 1/truck/HT-01/telemetry", "'pit 1' is not a site slug"),
        ("smartmine/pit-1/truck//telemetry", "the equipment name is empty"),
    ],
)
def test_a_wrong_topic_is_refused_with_what_is_wrong(topic, words):
    with pytest.raises(BadMessage) as refused:
        parse_topic(topic)
    assert words in str(refused.value) and refused.value.reason == "topic"


def test_one_reading_or_a_batch_is_accepted():
    one = decode("smartmine/p/truck/T/telemetry", json.dumps({"ts": "x"}).encode())
    many = decode("smartmine/p/truck/T/telemetry", json.dumps([{"ts": "x"}, {"ts": "y"}]).encode())
    assert one.error is None and one.readings == [{"ts": "x"}]
    assert many.error is None and len(many.readings) == 2


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "a non-empty array"),
        (b"42", "must be a JSON object"),
        (b'[{"ts": "x"}, 3]', "reading 1 must be a JSON object"),
        (b'{"ts": "x", "equipment_id": 4}', "the topic names the equipment"),
        (json.dumps([{}] * (MAX_READINGS_PER_MESSAGE + 1)).encode(), f"at most {MAX_READINGS_PER_MESSAGE}"),
    ],
)
def test_a_bad_payload_refuses_the_message_with_the_reason(payload, words):
    decoded = decode("smartmine/p/truck/T/telemetry", payload)
    assert decoded.readings == [] and decoded.error.reason == "payload"
    assert words in str(decoded.error)


def test_decode_never_raises_on_a_bad_topic():
    decoded = decode("smartmine/x", b"{}")
    assert decoded.error.reason == "topic" and decoded.address is None


def test_rejections_go_next_to_the_topic_and_are_classified_by_field():
    assert rejected_topic("smartmine/p/truck/T/telemetry") == "smartmine/p/truck/T/telemetry/rejected"
    assert reason_of({"equipment_id": ["no truck with id 4"]}) == "unknown_equipment"
    assert reason_of({"ts": ["too old"]}) == "time"
    assert reason_of({"speed_kmh": ["above the maximum"], "ts": ["too old"]}) == "value"


def test_readings_in_columns_are_one_message_with_a_value_per_reading_in_each_field():
    body = {"ts": ["a", "b", "c"], "status": ["hauling", "loading", "hauling"], "speed_kmh": [1, 2, 3]}
    decoded = decode("smartmine/p/truck/T/telemetry", json.dumps(body).encode())
    assert decoded.error is None and len(decoded) == 3
    assert decoded.values("status") == ["hauling", "loading", "hauling"]
    assert decoded.values("fuel_l") == [None, None, None]  # the checks call it missing


@pytest.mark.parametrize(
    "body, words",
    [
        ({"ts": ["a", "b"], "speed_kmh": [1]}, "column 'speed_kmh' must be an array of 2 values"),
        ({"ts": ["a"], "status": "hauling"}, "column 'status' must be an array of 1 values"),
        ({"ts": []}, f"columns hold 1 to {MAX_COLUMN_READINGS} readings, not 0"),
        ({"ts": ["a"] * (MAX_COLUMN_READINGS + 1)}, f"not {MAX_COLUMN_READINGS + 1}"),
        ({"ts": ["a"], "equipment_id": [4]}, "the topic names the equipment"),
    ],
)
def test_columns_of_unequal_length_or_too_many_refuse_the_message(body, words):
    decoded = decode("smartmine/p/truck/T/telemetry", json.dumps(body).encode())
    assert decoded.error.reason == "payload" and words in str(decoded.error) and len(decoded) == 0
