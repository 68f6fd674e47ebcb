"""The MQTT benchmark's load generator: its packets are what paho decodes, and a real Mosquitto accepts,
delivers and acknowledges every one."""

from __future__ import annotations

import threading

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from bench.mqtt_load import RawPublisher, _remaining_length, publish_packets
from smartmine.mqttbroker import Gateway
from smartmine.platform.mqtt import client
from tests.processes import private_mosquitto

GATEWAY = Gateway("load-gateway", "load-token", ("pit",))


@pytest.mark.parametrize(
    ("length", "encoded"),
    [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01")],
)
def test_remaining_length_is_mqtts_variable_length_integer(length, encoded):
    assert _remaining_length(length) == encoded


def _split(packet: bytes) -> tuple[int, bytes]:
    """A packet's first byte and its body after the remaining length, which must match the body's size."""
    length, multiplier, position = 0, 1, 1
    while True:
        digit = packet[position]
        length += (digit & 0x7F) * multiplier
        multiplier *= 128
        position += 1
        if not digit & 0x80:
            break
    assert length == len(packet) - position
    return packet[0], packet[position:]


def test_packets_decode_as_qos1_publishes_with_their_own_packet_ids():
    messages = [(f"smartmine/pit/truck/HT-{n}/telemetry", b"x" * n * 100) for n in range(3)]

    packets = publish_packets(messages)

    for number, (packet, (topic, payload)) in enumerate(zip(packets, messages, strict=True)):
        decoded = _packet.decode_publish(*_split(packet), MQTTProtocolVersion.MQTTv311)
        assert (decoded.qos, decoded.topic.decode(), decoded.mid, decoded.payload) == (
            1, topic, number + 1, payload,
        )  # fmt: skip


def test_packet_ids_cycle_without_zero():
    packets = publish_packets([("t/x", b"")] * 65_537)

    mids = [
        _packet.decode_publish(*_split(packets[n]), MQTTProtocolVersion.MQTTv311).mid
        for n in (0, 65_534, 65_535)
    ]
    assert mids == [1, 65_535, 1]


def test_every_message_reaches_a_subscriber_and_is_acknowledged(tmp_path):
    messages = [(f"smartmine/pit/truck/HT-{n % 7}/telemetry", f'{{"n": {n}}}'.encode()) for n in range(500)]
    with private_mosquitto(tmp_path, [GATEWAY]) as broker:
        received: list[bytes] = []
        subscribed, done = threading.Event(), threading.Event()
        subscriber = client(broker, client_id="load-test-subscriber")
        subscriber.on_connect = lambda mqtt, *_: mqtt.subscribe(
            "smartmine/pit/+/+/telemetry", options=SubscribeOptions(qos=1)
        )
        subscriber.on_subscribe = lambda *_: subscribed.set()

        def on_message(_client, _userdata, message) -> None:
            received.append(message.payload)
            if len(received) == len(messages):
                done.set()

        subscriber.on_message = on_message
        subscriber.connect(broker.host, broker.port)
        subscriber.loop_start()
        try:
            assert subscribed.wait(10)
            publisher = RawPublisher(broker.host, broker.port, GATEWAY.username, GATEWAY.password)
            try:
                publisher.publish(publish_packets(messages), window=50, chunk=20, timeout_s=30)
                assert publisher.acknowledged == len(messages)
            finally:
                publisher.close()
            assert done.wait(10)
        finally:
            subscriber.disconnect()
            subscriber.loop_stop()

    assert sorted(received) == sorted(payload for _, payload in messages)


def test_a_refused_connection_says_so(tmp_path):
    with private_mosquitto(tmp_path, [GATEWAY]) as broker, pytest.raises(ConnectionError, match="refused"):
        RawPublisher(broker.host, broker.port, GATEWAY.username, "wrong-token")
