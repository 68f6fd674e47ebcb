"""MQTT plumbing every process shares: the broker address from MQTT_URL, a client, a probe, password hashes.

On the floor (imports no app): the ingest command (fleet), the device simulator, health and devservices all
connect the same way: MQTT 5, paho-mqtt's version-2 callbacks, the URL's user and password.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt import __version__ as paho_release
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: The paho-mqtt release whose packet decoding `share_property_tables` was checked against (requirements/).
PAHO_CHECKED = "2.2.0"

#: mosquitto_passwd's defaults (PBKDF2-SHA512, `$7$` in the password file).
PASSWORD_ITERATIONS = 101
PASSWORD_SALT_BYTES = 12


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        """mqtt://[user[:password]@]host[:port] (the port defaults to 1883)."""
        parts = urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError(f"{url!r} is not an MQTT URL such as mqtt://user:password@host:1883")
        return cls(
            host=parts.hostname,
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class SharedTableProperties(Properties):
    """paho's `Properties` with its three lookup tables built once rather than per packet.

    paho builds the tables (property names, ids, types and packets: about 60 entries) in `__init__`, and
    decodes every MQTT 5 PUBLISH and PUBACK into a fresh `Properties`: about half of a subscriber's CPU per
    message (profile and A/B in docs/performance.md, bench_mqtt). The tables are never written after
    `__init__`, so sharing them changes nothing but the cost.
    """

    _template = Properties(PacketTypes.PUBLISH)
    _TABLES = frozenset(("packetType", "types", "names", "properties"))

    def __init__(self, packetType: int) -> None:
        object.__setattr__(self, "packetType", packetType)
        object.__setattr__(self, "types", self._template.types)
        object.__setattr__(self, "names", self._template.names)
        object.__setattr__(self, "properties", self._template.properties)

    def clear(self) -> None:
        """Drop every property set, as paho's `clear` does. paho's tries each of the 27 names in turn, and
        `unpack` calls it first for every packet: 8 of the 15-23 us paho took to decode a PUBLISH (in
        process, with the tables shared). A property is an attribute outside the tables (`__setattr__`
        refuses any other name), so only those are dropped."""
        for name in [name for name in vars(self) if name not in self._TABLES]:
            delattr(self, name)


def share_property_tables() -> bool:
    """Make paho's packet decoder build `SharedTableProperties` (idempotent); False, changing nothing, on a
    paho release other than the one checked, whose decoder may differ."""
    if paho_release != PAHO_CHECKED:
        return False
    _packet.Properties = SharedTableProperties
    return True


def client(broker: Broker, *, client_id: str = "", manual_ack: bool = False) -> paho.Client:
    """An MQTT 5 client with the broker's credentials, not yet connected."""
    share_property_tables()
    made = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        manual_ack=manual_ack,
    )
    if broker.username:
        made.username_pw_set(broker.username, broker.password)
    return made


def connect_properties(*, session_expiry_s: int = 0, receive_maximum: int | None = None) -> Properties:
    """CONNECT properties: how long the broker keeps the session (and its queued messages) while we are
    away, and how many unacknowledged QoS 1 messages it may send us at once."""
    properties = Properties(PacketTypes.CONNECT)
    if session_expiry_s:
        properties.SessionExpiryInterval = session_expiry_s
    if receive_maximum:
        properties.ReceiveMaximum = receive_maximum
    return properties


def connected(
    broker: Broker, *, client_id: str = "", timeout_s: float = 5.0, max_inflight: int | None = None
) -> paho.Client:
    """A client connected (CONNACK success) with its network loop running; raises ConnectionError.

    `max_inflight`: QoS 1 messages it may have unacknowledged (paho's default, 20, throttles a publisher).
    0 sets no limit in the client, for a caller that bounds what it has unacknowledged itself, below the
    broker's receive maximum: paho then skips its scan of every message in flight on each acknowledgement.
    """
    made = client(broker, client_id=client_id)
    if max_inflight is not None:
        made.max_inflight_messages_set(max_inflight)
    outcome: dict[str, object] = {}
    ready = threading.Event()

    def on_connect(_client, _userdata, _flags, reason_code, _properties) -> None:
        outcome["reason"] = reason_code
        ready.set()

    made.on_connect = on_connect
    try:
        made.connect(broker.host, broker.port, keepalive=30)
    except OSError as error:
        raise ConnectionError(f"MQTT broker at {broker.where}: {error}") from None
    made.loop_start()
    if not ready.wait(timeout_s):
        made.loop_stop()
        made.disconnect()
        raise ConnectionError(f"MQTT broker at {broker.where} did not answer in {timeout_s:g} s")
    reason = outcome["reason"]
    if reason.is_failure:
        made.loop_stop()
        raise ConnectionError(
            f"MQTT broker at {broker.where} refused {broker.username or 'anonymous'}: {reason}"
        )
    return made


def probe(broker: Broker, timeout_s: float = 1.0) -> None:
    """Connect and disconnect; raises ConnectionError when the broker does not accept us."""
    made = connected(broker, timeout_s=timeout_s)
    made.disconnect()
    made.loop_stop()


def password_hash(password: str, salt: bytes | None = None) -> str:
    """A mosquitto password-file hash (what `mosquitto_passwd` writes), without running it per gateway."""
    salt = salt if salt is not None else os.urandom(PASSWORD_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PASSWORD_ITERATIONS)
    encode = base64.b64encode
    return f"$7${PASSWORD_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"
