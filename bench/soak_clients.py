"""The WebSocket clients of the soak: bench.ws_client's clients, asked for their figures every few seconds.

bench.ws_client reports once, at the end of a short run. A soak needs figures while it runs and must not
hoard 30 minutes of latencies in the client processes (they share the 2 cores and the memory with the
server they measure), so each sample hands over the latencies gathered since the previous one and forgets
them. A client process ignores Ctrl-C (the soak stops it in order) and ends if the soak itself dies.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from array import array
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from bench.ws_client import UPDATE_TYPES, LiveClient, _open

#: Clients per process: one process keeps up with ~250 clients of 1,000-truck frames on this machine.
CLIENTS_PER_PROCESS = 250
#: Handshakes in flight per process. daphne builds each new client's snapshot in its one database thread
#: and drops a handshake it has not accepted within 5 s; bench.ws_client's 20 per process overran that at
#: 1,000 trucks on a busy machine (a stampede is bench_ws's subject; the soak wants its clients connected).
CONNECT_CONCURRENCY = 4
#: Attempts per client: one refused while connecting tries again, as the dashboard reconnects.
CONNECT_ATTEMPTS = 3


@dataclass
class FleetSample:
    """What every client saw since the previous sample (latencies) or since it connected (counts)."""

    update_frames: int = 0
    snapshots: int = 0
    disconnected: int = 0
    latencies_ms: array = field(default_factory=lambda: array("d"))
    close_codes: dict[str, int] = field(default_factory=dict)

    def add(self, part: dict[str, Any]) -> None:
        self.update_frames += part["update_frames"]
        self.snapshots += part["snapshots"]
        self.disconnected += part["disconnected"]
        self.latencies_ms.frombytes(part["latencies_ms"])
        for code, count in part["close_codes"].items():
            self.close_codes[code] = self.close_codes.get(code, 0) + count


def _sample(clients: list[LiveClient]) -> dict[str, Any]:
    latencies = array("d")
    close_codes: dict[str, int] = {}
    for client in clients:
        latencies.extend(client.record.latencies_ms)
        client.record.latencies_ms.clear()
        if client.closed.done():
            code = str(client.record.close_code)
            close_codes[code] = close_codes.get(code, 0) + 1
    return {
        "update_frames": sum(
            client.record.counts.get(kind, 0) for client in clients for kind in UPDATE_TYPES
        ),
        "snapshots": sum(client.record.counts.get("snapshot", 0) for client in clients),
        "disconnected": sum(client.closed.done() for client in clients),
        "latencies_ms": latencies.tobytes(),
        "close_codes": close_codes,
    }


async def _open_with_retries(url: str, gate: asyncio.Semaphore, refusals: list[str]) -> LiveClient:
    """Connect; an attempt refused, reset or timed out is noted in `refusals` and tried again."""
    for _ in range(CONNECT_ATTEMPTS - 1):
        try:
            return await _open(url, True, gate)
        except Exception as error:  # whatever it was, the next attempt may succeed; the figures keep it
            refusals.append(repr(error)[:200])
            await asyncio.sleep(1)
    return await _open(url, True, gate)  # the last attempt's error is the client's


async def _serve_parent(url: str, clients: int, control: Connection) -> None:
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_command() -> None:
        try:
            commands.put_nowait(control.recv())
        except EOFError:  # the soak process is gone: stop rather than linger
            loop.remove_reader(control.fileno())
            commands.put_nowait("stop")

    loop.add_reader(control.fileno(), read_command)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started, refusals = time.perf_counter(), []
    outcomes = await asyncio.gather(
        *(_open_with_retries(url, gate, refusals) for _ in range(clients)), return_exceptions=True
    )
    opened = [outcome for outcome in outcomes if isinstance(outcome, LiveClient)]
    errors = [repr(outcome)[:200] for outcome in outcomes if not isinstance(outcome, LiveClient)]
    control.send(
        {
            "connected": len(opened),
            "errors": errors,
            "refusals": refusals,
            "connect_s": time.perf_counter() - started,
        }
    )
    while (command := await commands.get()) == "sample":
        control.send(_sample(opened))
    if command == "report":
        per_client = [sum(c.record.counts.get(kind, 0) for kind in UPDATE_TYPES) for c in opened]
        control.send({**_sample(opened), "per_client_update_frames": per_client})
    await asyncio.gather(*(client.close() for client in opened), return_exceptions=True)


def _client_process(url: str, clients: int, control: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve_parent(url, clients, control))


class SoakClients:
    """N clients of the default subscription in a few processes: connect(), sample() often, report() once."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.clients = url, clients
        self.processes = max(1, -(-clients // CLIENTS_PER_PROCESS))
        self.workers: list[tuple[multiprocessing.Process, Connection]] = []

    @property
    def pids(self) -> list[int]:
        return [process.pid for process, _ in self.workers if process.pid]

    def connect(self, timeout_s: float = 300) -> dict[str, Any]:
        """Start the processes; returns once every client is connected (or gave up) and has its snapshot."""
        context = multiprocessing.get_context("spawn")
        share, extra = divmod(self.clients, self.processes)
        for index in range(self.processes):
            parent_end, child_end = context.Pipe()
            count = share + (1 if index < extra else 0)
            process = context.Process(
                target=_client_process,
                args=(self.url, count, child_end),
                daemon=True,
                name=f"soak-ws-{index}",
            )
            process.start()
            child_end.close()
            self.workers.append((process, parent_end))
        connected, errors, refusals, slowest = 0, [], [], 0.0
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
            refusals += answer["refusals"]
            slowest = max(slowest, answer["connect_s"])
        return {"connected": connected, "errors": errors, "refusals": refusals, "connect_s": slowest}

    def _ask(self, command: str, timeout_s: float) -> list[dict[str, Any]]:
        for _, control in self.workers:
            control.send(command)
        answers = []
        for process, control in self.workers:
            if not control.poll(timeout_s):
                raise TimeoutError(f"{process.name} did not answer {command!r} within {timeout_s:.0f} s")
            answers.append(control.recv())
        return answers

    def sample(self, timeout_s: float = 30) -> FleetSample:
        """Frame counts so far, and the latencies since the previous sample (handed over, then forgotten)."""
        total = FleetSample()
        for answer in self._ask("sample", timeout_s):
            total.add(answer)
        return total

    def report(self, timeout_s: float = 60) -> tuple[FleetSample, list[int]]:
        """The last sample and each client's count of update frames; the clients close, the processes end."""
        total, per_client = FleetSample(), []
        for answer in self._ask("report", timeout_s):
            total.add(answer)
            per_client += answer["per_client_update_frames"]
        self.close()
        return total, per_client

    def close(self) -> None:
        """Stop every client process (politely first); safe to call twice."""
        for process, control in self.workers:
            if process.is_alive():
                with suppress(OSError):  # it ended since we looked
                    control.send("stop")
        for process, control in self.workers:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
            control.close()
        self.workers = []
