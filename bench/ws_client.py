"""The project's WebSocket client harness: many asyncio clients in a few processes, counted per client.

Each client process opens its share of connections, reads every frame and keeps, per client, how many
frames of each type arrived and the latency of each update (receipt time minus the frame's `timestamp`,
which the server sets when it publishes, right after the tick commits; same machine, same clock). The
parent drives the run through a pipe: wait until everyone is connected, let the publisher work, then ask
for the figures.

The clients share 2 cores with the server they measure, so each one is an `asyncio.Protocol` around the
`websockets` sans-I/O `ClientProtocol` (handshake, framing, ping/pong and close by the library; no task, no
queue and no UTF-8 decoding per frame), and frames are not JSON-decoded: the type and timestamp are read
from the fixed start of the text (`{"type":…,"timestamp":…`, the order `smartmine.platform.live.frame`
writes). With
the `websockets` asyncio client instead, the harness alone added ~150 ms p50 at 1,000 clients.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

#: Connections opened at once per process: daphne builds a snapshot for each, so a stampede only queues.
CONNECT_CONCURRENCY = 20
TIMESTAMP_KEY = b'"timestamp":"'
TYPE_PREFIX = b'{"type":"'
UPDATE_TYPES = ("truck_update", "crusher_update", "stockpile_update")
#: The type the throughput burst is sent as: no tick produces it (ticks now publish `kpi_update` too), and it
#: travels on BURST_STREAM, which the default subscription includes, so every client receives it.
BURST_TYPE, BURST_STREAM = "bench_burst", "kpis"


@dataclass
class ClientRecord:
    """What one client saw: frames per type, update latencies and when the last burst frame came."""

    counts: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    last_burst_at: float = 0.0
    close_code: int | None = None


def frame_type(text: bytes) -> str:
    if not text.startswith(TYPE_PREFIX):
        return "?"
    return text[len(TYPE_PREFIX) : text.index(b'"', len(TYPE_PREFIX))].decode()


def frame_timestamp(text: bytes) -> float | None:
    """The frame's publish time in epoch seconds, read without decoding the JSON."""
    start = text.find(TIMESTAMP_KEY, 0, 80)
    if start < 0:
        return None
    start += len(TIMESTAMP_KEY)
    return datetime.fromisoformat(text[start : text.index(b'"', start)].decode()).timestamp()


class LiveClient(asyncio.Protocol):
    """One WebSocket client that counts what it receives; `opened` resolves once it is ready to count."""

    def __init__(self, url: str, wait_first_frame: bool) -> None:
        self.protocol = ClientProtocol(parse_uri(url), max_size=None)
        self.record = ClientRecord()
        self.wait_first_frame = wait_first_frame
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.protocol.send_request(self.protocol.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        received_at = time.time()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Response):
                if event.status_code != 101:
                    self.fail(ConnectionError(f"handshake refused: HTTP {event.status_code}"))
                elif not self.wait_first_frame:
                    self.opened.set_result(None)
            elif event.opcode is Opcode.TEXT:
                self.count(event.data, received_at)
        self.flush()

    def count(self, text: bytes, received_at: float) -> None:
        kind = frame_type(text)
        self.record.counts[kind] = self.record.counts.get(kind, 0) + 1
        if kind in UPDATE_TYPES:
            published_at = frame_timestamp(text)
            if published_at is not None:
                self.record.latencies_ms.append((received_at - published_at) * 1000)
        elif kind == BURST_TYPE:
            self.record.last_burst_at = received_at
        if not self.opened.done():
            self.opened.set_result(None)

    def flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def fail(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, error: Exception | None) -> None:
        self.record.close_code = self.protocol.close_code
        if not self.opened.done():
            self.opened.set_exception(error or ConnectionError("closed before it was ready"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.protocol.send_close(1000)
            self.flush()
            try:
                await asyncio.wait_for(self.closed, 2)
            except TimeoutError:
                self.transport.abort()


async def _open(url: str, wait_first_frame: bool, gate: asyncio.Semaphore) -> LiveClient:
    """Connect, and (against daphne) wait for the snapshot so the client is subscribed before ticks start."""
    uri = parse_uri(url)
    async with gate:
        client = LiveClient(url, wait_first_frame)
        await asyncio.get_running_loop().create_connection(lambda: client, uri.host, uri.port)
        await asyncio.wait_for(client.opened, 120)
        return client


async def _serve_parent(url: str, clients: int, wait_first_frame: bool, control: Connection) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()
    loop.add_reader(control.fileno(), lambda: commands.put_nowait(control.recv()))
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(_open(url, wait_first_frame, gate) for _ in range(clients)), return_exceptions=True
    )
    opened = [outcome for outcome in outcomes if isinstance(outcome, LiveClient)]
    errors = [repr(outcome)[:200] for outcome in outcomes if not isinstance(outcome, LiveClient)]
    control.send({"connected": len(opened), "errors": errors, "connect_s": time.perf_counter() - started})
    while await commands.get() == "progress":
        control.send({"burst": sum(client.record.counts.get(BURST_TYPE, 0) for client in opened)})
    loop.remove_reader(control.fileno())  # the command was "report"
    control.send({"records": [client.record.__dict__ for client in opened]})
    await asyncio.gather(*(client.close() for client in opened), return_exceptions=True)


def _client_process(url: str, clients: int, wait_first_frame: bool, control: Connection) -> None:
    asyncio.run(_serve_parent(url, clients, wait_first_frame, control))


class ClientFleet:
    """N clients spread over a few processes; `connect()`, let the publisher work, then `report()`."""

    def __init__(self, url: str, clients: int, processes: int, *, wait_first_frame: bool = True) -> None:
        self.url, self.clients = url, clients
        self.processes = max(1, min(processes, clients))
        self.wait_first_frame = wait_first_frame
        self.workers: list[tuple[multiprocessing.Process, Connection]] = []

    def connect(self, timeout_s: float = 300) -> dict[str, Any]:
        """Start the processes and wait until every client is connected (and has its snapshot)."""
        context = multiprocessing.get_context("spawn")  # no inherited Django, sockets or event loop
        share, extra = divmod(self.clients, self.processes)
        for index in range(self.processes):
            parent_end, child_end = context.Pipe()
            count = share + (1 if index < extra else 0)
            process = context.Process(
                target=_client_process,
                args=(self.url, count, self.wait_first_frame, child_end),
                daemon=True,
                name=f"ws-clients-{index}",
            )
            process.start()
            self.workers.append((process, parent_end))
        connected, errors, slowest = 0, [], 0.0
        deadline = time.monotonic() + timeout_s
        for process, control in self.workers:
            while not control.poll(0.5):
                if not process.is_alive():
                    raise RuntimeError(f"{process.name} exited with code {process.exitcode} while connecting")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{process.name} did not connect its clients within {timeout_s:.0f} s")
            answer = control.recv()
            connected += answer["connected"]
            errors += answer["errors"]
            slowest = max(slowest, answer["connect_s"])
        return {"connected": connected, "errors": errors, "connect_s": slowest}

    def wait_for_burst(self, frames: int, timeout_s: float) -> None:
        """Until every client has `frames` burst frames, or nothing more arrives for 3 s, or the timeout."""
        deadline, last_total, last_change = time.monotonic() + timeout_s, -1, time.monotonic()
        while time.monotonic() < deadline:
            total = 0
            for _, control in self.workers:
                control.send("progress")
                total += control.recv()["burst"]
            if total >= frames * self.clients:
                return
            if total != last_total:
                last_total, last_change = total, time.monotonic()
            elif time.monotonic() - last_change > 3:
                return
            time.sleep(0.25)

    def report(self, timeout_s: float = 120) -> list[ClientRecord]:
        """Every client's record; the clients are closed and the processes end."""
        records: list[ClientRecord] = []
        for _, control in self.workers:
            control.send("report")
        for process, control in self.workers:
            if not control.poll(timeout_s):
                raise TimeoutError(f"{process.name} did not report within {timeout_s:.0f} s")
            records += [ClientRecord(**fields) for fields in control.recv()["records"]]
        self.close()
        return records

    def close(self) -> None:
        for process, control in self.workers:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            control.close()
        self.workers = []
