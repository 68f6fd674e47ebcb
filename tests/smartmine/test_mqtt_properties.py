"""paho's MQTT 5 properties decoded with shared lookup tables give what paho's own decoding gives."""

import struct

import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from smartmine.platform import mqtt


def _publish_packet(
    properties: Properties, payload: bytes, topic: bytes = b"smartmine/pit/truck/HT-01/telemetry"
):
    """A QoS 1 PUBLISH after its fixed header, as paho's decoder receives it (header 0x32)."""
    return struct.pack("!H", len(topic)) + topic + struct.pack("!H", 7) + properties.pack() + payload


def _decoded(packet: bytes, factory) -> _packet.PublishPacket:
    original = _packet.Properties
    _packet.Properties = factory
    try:
        return _packet.decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv5)
    finally:
        _packet.Properties = original


@pytest.fixture
def rich_properties() -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.MessageExpiryInterval = 30
    properties.ContentType = "application/json"
    properties.UserProperty = [("gateway", "gw-7"), ("firmware", "2.1")]
    properties.CorrelationData = b"\x00\x01"
    properties.PayloadFormatIndicator = 1
    return properties


@pytest.mark.parametrize("empty", [True, False])
def test_publish_properties_decode_as_paho_does(rich_properties, empty):
    properties = Properties(PacketTypes.PUBLISH) if empty else rich_properties
    packet = _publish_packet(properties, b'{"ts": "2026-12-04T10:00:00Z"}')

    shared = _decoded(packet, mqtt.SharedTableProperties)
    own = _decoded(packet, Properties)

    assert isinstance(shared.properties, Properties)
    assert shared.properties.json() == own.properties.json()
    assert (shared.topic, shared.mid, shared.payload) == (own.topic, own.mid, own.payload)
    if not empty:
        assert shared.properties.MessageExpiryInterval == 30
        assert shared.properties.UserProperty == [("gateway", "gw-7"), ("firmware", "2.1")]


def test_instances_do_not_share_values(rich_properties):
    """The tables are shared; the values each packet carries are not."""
    first = _decoded(_publish_packet(rich_properties, b"{}"), mqtt.SharedTableProperties).properties
    second = _decoded(_publish_packet(Properties(PacketTypes.PUBLISH), b"{}"), mqtt.SharedTableProperties)

    assert first.MessageExpiryInterval == 30
    assert not hasattr(second.properties, "MessageExpiryInterval")
    assert second.properties.isEmpty()


def test_shared_properties_still_check_what_they_are_given():
    properties = mqtt.SharedTableProperties(PacketTypes.PUBLISH)
    with pytest.raises(Exception, match="does not apply to packet type"):
        properties.SessionExpiryInterval = 5


def test_other_paho_releases_are_left_alone(monkeypatch):
    monkeypatch.setattr(_packet, "Properties", Properties)
    monkeypatch.setattr(mqtt, "paho_release", "9.9.9")

    assert mqtt.share_property_tables() is False
    assert _packet.Properties is Properties


def test_clients_decode_with_shared_tables(monkeypatch):
    monkeypatch.setattr(_packet, "Properties", Properties)

    mqtt.client(mqtt.Broker("127.0.0.1", 1883))

    assert _packet.Properties is mqtt.SharedTableProperties


def test_clear_drops_every_property_as_paho_does(rich_properties):
    packet = _publish_packet(rich_properties, b"{}")
    shared = _decoded(packet, mqtt.SharedTableProperties).properties
    own = _decoded(packet, Properties).properties

    shared.clear()
    own.clear()

    assert shared.isEmpty() and own.isEmpty()
    assert shared.json() == own.json() == {}
    assert shared.names is mqtt.SharedTableProperties._template.names  # the tables stay
    shared.MessageExpiryInterval = 5  # and still check what they are given
    assert shared.MessageExpiryInterval == 5
