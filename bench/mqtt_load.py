"""A load generator for the MQTT benchmark: QoS 1 PUBLISH packets encoded before the clock starts, written
to the broker over one socket, PUBACKs counted.

Why not paho here: the benchmark measures the ingest, and its publisher shares the same 2 cores. paho spends
about 10 us of CPU a reading (a message object, a lock and a properties object per packet, PUBACK
handling in Python), which is CPU the ingest processes and PostgreSQL do not get; on a mine site the 1,000
publishers are on the trucks, not on the backend's cores. This client does the least a publisher can:
MQTT 3.1.1 (the broker translates for the MQTT 5 subscribers), one TCP connection, a bounded window of
unacknowledged messages as a gateway keeps, nothing else. The product's own publisher
(`manage.py publish_mqtt`) and every other part of the benchmark use paho.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Sequence

CONNECT, CONNACK, PUBLISH_QOS1, PUBACK, DISCONNECT = 0x10, 0x20, 0x32, 0x40, 0xE0
#: Packet identifiers are 16 bits, never 0; the window is far smaller, so none is reused while in flight.
MAX_PACKET_ID = 65535


def _remaining_length(length: int) -> bytes:
    """MQTT's variable-length integer: 7 bits a byte, the high bit set on all but the last."""
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def publish_packets(messages: Sequence[tuple[str, bytes]]) -> list[bytes]:
    """Each (topic, payload) as a QoS 1 PUBLISH packet with its own packet identifier (1..65535, cycling)."""
    packets = []
    for number, (topic, payload) in enumerate(messages):
        body = _string(topic) + struct.pack("!H", number % MAX_PACKET_ID + 1) + payload
        packets.append(bytes([PUBLISH_QOS1]) + _remaining_length(len(body)) + body)
    return packets


class RawPublisher:
    """One MQTT 3.1.1 connection (clean session) that writes ready-made QoS 1 packets and counts PUBACKs."""

    def __init__(self, host: str, port: int, username: str, password: str, *, client_id: str = "bench-load"):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        flags = 0x80 | 0x40 | 0x02  # user name, password, clean session
        body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
        body += _string(client_id) + _string(username) + _string(password)
        self.sock.sendall(bytes([CONNECT]) + _remaining_length(len(body)) + body)
        reply = self._read_exactly(4)
        if reply[0] != CONNACK or reply[3] != 0:
            raise ConnectionError(f"the broker refused the connection: CONNACK {reply.hex()}")
        self.acknowledged = 0
        self.error: Exception | None = None
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._count_acks, name="puback-reader", daemon=True)
        self._reader.start()

    def _read_exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            data += chunk
        return data

    def _count_acks(self) -> None:
        """Every packet the broker sends this publisher is a 4-byte PUBACK; anything else is an error."""
        pending = b""
        try:
            while chunk := self.sock.recv(1 << 16):
                pending += chunk
                whole = len(pending) // 4 * 4
                packets, pending = pending[:whole], pending[whole:]
                count = whole // 4
                if packets[0::4] != bytes([PUBACK]) * count or packets[1::4] != b"\x02" * count:
                    raise ConnectionError(f"expected PUBACKs from the broker, got {packets[:16].hex()}...")
                with self._changed:
                    self.acknowledged += count
                    self._changed.notify_all()
        except Exception as error:  # handed to the publishing thread
            self.error = error
        with self._changed:
            self._changed.notify_all()

    def publish(self, packets: Sequence[bytes], *, window: int = 2000, chunk: int = 100,
                timeout_s: float = 120) -> float:  # fmt: skip
        """Write every packet, at most `window` unacknowledged at once; return when all are acknowledged.
        Returns the seconds it took."""
        started, deadline = time.perf_counter(), time.monotonic() + timeout_s
        first = self.acknowledged
        sent = 0
        for start in range(0, len(packets), chunk):
            part = packets[start : start + chunk]
            self._wait_acknowledged(first, sent, unacknowledged=window - len(part), deadline=deadline)
            self.sock.sendall(b"".join(part))
            sent += len(part)
        self._wait_acknowledged(first, sent, unacknowledged=0, deadline=deadline)
        return time.perf_counter() - started

    def _wait_acknowledged(self, first: int, sent: int, *, unacknowledged: int, deadline: float) -> None:
        """Wait until at most `unacknowledged` of the `sent` packets lack a PUBACK (counted from `first`)."""
        with self._changed:
            while sent - (self.acknowledged - first) > unacknowledged and self.error is None:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"{self.acknowledged - first} of {sent} acknowledged")
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        try:
            self.sock.sendall(bytes([DISCONNECT, 0]))
        finally:
            self.sock.close()
            self._reader.join(5)
