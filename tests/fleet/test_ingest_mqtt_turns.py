"""The ingest's committer threads acknowledge in the order the messages came (MQTT asks it of QoS 1 PUBACKs):
a batch committed early waits for the batches taken before it, and a batch not committed passes its turn
unacknowledged. No broker: the client's acknowledgements are recorded (tests/fleet/test_mqtt_ingest.py
runs the whole process against a real Mosquitto).
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from fleet.management.commands.ingest_mqtt import MqttIngest
from smartmine.platform.mqtt import Broker


def _ingest() -> tuple[MqttIngest, list[int]]:
    ingest = MqttIngest(
        Broker.from_url("mqtt://127.0.0.1:1"),
        name="turns",
        batch_messages=10,
        batch_s=0.01,
        session_expiry_s=60,
    )
    acknowledged: list[int] = []
    ingest.client = SimpleNamespace(ack=lambda mid, qos: acknowledged.append(mid))
    return ingest, acknowledged


def _batch(*mids: int) -> list:
    return [(SimpleNamespace(mid=mid, qos=1), None) for mid in mids]


def test_a_batch_committed_early_waits_for_the_batches_taken_before_it():
    ingest, acknowledged = _ingest()
    second = threading.Thread(target=ingest._acknowledge_in_turn, args=(1, _batch(3, 4)))
    second.start()
    second.join(0.3)

    assert second.is_alive() and acknowledged == []
    ingest._acknowledge_in_turn(0, _batch(1, 2))
    second.join(5)
    assert acknowledged == [1, 2, 3, 4]


def test_a_batch_not_committed_passes_its_turn_unacknowledged():
    ingest, acknowledged = _ingest()
    second = threading.Thread(target=ingest._acknowledge_in_turn, args=(1, _batch(3)))
    second.start()

    ingest._acknowledge_in_turn(0, [])  # stopping before the database came back
    second.join(5)

    assert not second.is_alive() and acknowledged == [3]
