"""Writing a pre-encoded WebSocket frame straight onto a daphne connection's socket.

The live stream sends the same bytes to every client of a group. Through Channels and daphne each client's
copy costs autobahn's framing and logging helpers and two epoll registrations in Twisted (every `write`
registers a writer with the reactor and the next loop turn removes it): about two thirds of ~100 us per
client per frame (docs/live.md, "Where the time goes"). Here a frame is framed once (RFC 6455, server to
client: never masked) and each client's copy is one `send()` on its socket when nothing is waiting ahead of
it; what the kernel does not take, and every write to a connection that already has a backlog, goes through
Twisted's own buffer, so bytes never overtake each other.

Only daphne's plain TCP connections qualify (found the way `LiveConsumer.outgoing_backlog` finds them);
anything else (TLS transports, Channels' test communicator) returns no writer and the caller sends normally.
The attributes read are Twisted's and autobahn's (pinned in requirements/constraints.txt);
tests/smartmine/test_fanout.py runs this against a real daphne.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

OPCODE_TEXT = 0x1
FIN = 0x80
#: autobahn's WebSocketProtocol.STATE_OPEN: frames may only be sent between the handshake and the close.
STATE_OPEN = 3


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented text frame (what a server sends) carrying `payload` (UTF-8)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", FIN | OPCODE_TEXT, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", FIN | OPCODE_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", FIN | OPCODE_TEXT, 127, length)
    return header + payload


def daphne_protocol(send: Callable[..., Any]) -> Any | None:
    """The daphne WebSocketProtocol behind an ASGI `send` (unwrapping session middleware), if any."""
    while hasattr(getattr(send, "__self__", None), "real_send"):
        send = send.__self__.real_send
    return getattr(send, "args", (None,))[0]


class DirectWriter:
    """Writes whole frames to one daphne connection, skipping the per-write reactor registration."""

    __slots__ = ("protocol", "transport")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = protocol.transport

    @classmethod
    def for_send(cls, send: Callable[..., Any]) -> DirectWriter | None:
        """A writer for the connection behind `send`, or None when it is not daphne's plain TCP."""
        protocol = daphne_protocol(send)
        transport = getattr(protocol, "transport", None)
        needed = ("writeSomeData", "dataBuffer", "offset", "_tempDataLen", "connected", "disconnecting")
        if transport is None or not all(hasattr(transport, name) for name in needed):
            return None
        if not hasattr(protocol, "send_queue") or not hasattr(protocol, "state"):
            return None
        return cls(protocol)

    @property
    def open(self) -> bool:
        transport = self.transport
        return self.protocol.state == STATE_OPEN and transport.connected and not transport.disconnecting

    def backlog(self) -> int:
        """Bytes accepted for this client but not yet handed to the kernel."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def write(self, frame: bytes) -> bool:
        """Send one whole frame; False (nothing written) when the connection is not open."""
        if not self.open:
            return False
        transport = self.transport
        if self.protocol.send_queue:  # autobahn's own queue (unused by daphne): behind it, in order
            self.protocol.sendData(frame)
            return True
        if self.backlog():
            transport.write(frame)  # behind earlier bytes: Twisted keeps the order
            return True
        sent = transport.writeSomeData(frame)
        if isinstance(sent, Exception):  # the peer is gone: let Twisted notice and close as it does
            transport.write(frame)
        elif sent < len(frame):
            transport.write(frame[sent:])
        return True
