"""`serveweb`: several daphne processes on the same ports, as Channels' deployment documentation lays it out.

This process is the process manager: it binds the listening sockets once (the API port and the original
WebSocket port) and starts WEB_CONCURRENCY `daphne` processes that each serve them from the inherited file
descriptors (`-e fd:fileno=N`); the kernel hands each new connection to whichever process accepts first.
Each daphne process has one thread for Django's synchronous code, so N processes serve N requests at once
on N cores. A daphne that dies after running for a while is started again; one that dies at start (a bad
setting, an import error) stops them all, so `make run` shows the error instead of looping on it. SIGTERM
or SIGINT stops every daphne gracefully (their open WebSockets close), then this process.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

#: A daphne that stops sooner than this after it started is failing to start (an import takes tens of
#: seconds on a loaded machine): stop everything rather than loop on it.
MIN_UPTIME_S = 60.0
#: How long daphne processes get to close their connections after SIGTERM before SIGKILL.
STOP_GRACE_S = 10.0
#: Pending connections the kernel queues per listening socket while every process is busy.
BACKLOG = 2048


def bind_address(host: str) -> str:
    """Twisted endpoints want an IP address; `localhost` means the IPv4 loopback."""
    return "127.0.0.1" if host == "localhost" else host


def default_endpoints() -> list[tuple[str, int]]:
    """The API port and, when it differs, the original client's WebSocket port: the same ASGI app on both."""
    endpoints = [(bind_address(settings.API_HOST), settings.API_PORT)]
    if settings.WEBSOCKET_PORT != settings.API_PORT:
        endpoints.append((bind_address(settings.WEBSOCKET_HOST), settings.WEBSOCKET_PORT))
    return endpoints


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening socket the daphne processes inherit."""
    if ":" in host:  # daphne's `fd:` endpoint adopts IPv4 sockets only
        raise CommandError(f"serveweb listens on IPv4 addresses (0.0.0.0 for all), not {host}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise CommandError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def daphne_command(python: str, sockets: list[socket.socket], application: str) -> list[str]:
    """One daphne serving the inherited sockets (daphne's `fd:` endpoints; its own `--fd` takes only one)."""
    command = [python, "-m", "daphne"]
    for sock in sockets:
        command += ["-e", f"fd:fileno={sock.fileno()}"]
    return [*command, application]


class Command(BaseCommand):
    help = "Serve the ASGI app with WEB_CONCURRENCY daphne processes sharing the API and WebSocket ports."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--processes", type=int, default=None, help="daphne processes (default: WEB_CONCURRENCY)"
        )
        parser.add_argument(
            "--bind",
            action="append",
            default=None,
            metavar="HOST:PORT",
            help="listen here instead of API_HOST:API_PORT and WEBSOCKET_HOST:WEBSOCKET_PORT (repeatable)",
        )
        parser.add_argument("--application", default="smartmine.asgi:application")

    def handle(
        self, *args, processes: int | None, bind: list[str] | None, application: str, **options
    ) -> None:
        count = processes or settings.WEB_CONCURRENCY
        if count < 1:
            raise CommandError(f"--processes must be at least 1, got {count}")
        endpoints = [_parse_bind(text) for text in bind] if bind else default_endpoints()
        sockets = [listening_socket(host, port) for host, port in endpoints]
        fds = [sock.fileno() for sock in sockets]
        command = daphne_command(sys.executable, sockets, application)
        stopping = False

        def stop(signum, frame) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        started: dict[subprocess.Popen, float] = {}
        listening = ", ".join(f"{host}:{port}" for host, port in endpoints)
        self.stdout.write(f"serveweb: {count} daphne processes on {listening}")
        try:
            for _ in range(count):
                started[subprocess.Popen(command, pass_fds=fds)] = time.monotonic()
            while not stopping:
                time.sleep(0.2)
                for process, since in list(started.items()):
                    code = process.poll()
                    if code is None or stopping:
                        continue
                    del started[process]
                    if time.monotonic() - since < MIN_UPTIME_S:
                        raise CommandError(f"daphne {process.pid} exited with {code} at start; stopping")
                    self.stderr.write(f"serveweb: daphne {process.pid} exited with {code}; starting another")
                    started[subprocess.Popen(command, pass_fds=fds)] = time.monotonic()
        finally:  # the sockets stay open here until the end: a replacement daphne inherits them too
            _stop_all(list(started))
            for sock in sockets:
                sock.close()


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _parse_bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--bind takes HOST:PORT such as 127.0.0.1:5000, got {text!r}")
    return bind_address(host.strip("[]")), int(port)
