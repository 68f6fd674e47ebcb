"""Real server processes for end-to-end and fault tests: daphne and Celery workers on the test database.

Each test starts its own processes on free ports (and a private Celery queue, so no other worker on this
machine takes its tasks) and stops them before pytest-django empties the database.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from smartmine.devservices import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
__all__ = [
    "ROOT",
    "api_call",
    "celery_client",
    "current_database_url",
    "free_port",
    "ingest_mqtt",
    "private_mosquitto",
    "private_redis",
    "running_layout",
    "running_system",
    "solo_worker",
    "tick_age_s",
    "wait_for_port",
]  # fmt: skip


def celery_client(broker_url: str | None = None, installation_id: str | None = None):
    """The project's Celery app, or a client of another broker (a private Redis a test started) or of
    another installation's namespace on it."""
    from celery import Celery
    from django.conf import settings

    from smartmine.celery import app
    from smartmine.config import redis_prefix

    if broker_url is None and installation_id is None:
        return app
    # Not the current app: shared tasks sent later in the session must still go to the project's broker.
    client = Celery(
        "smartmine-test-client", broker=broker_url or settings.CELERY_BROKER_URL, set_as_current=False
    )
    prefix = redis_prefix(installation_id or settings.INSTALLATION_ID)
    client.conf.broker_transport_options = {"global_keyprefix": prefix}
    return client


def wait_for_worker(
    node: str, timeout_s: float = 60, broker_url: str | None = None, installation_id: str | None = None
) -> None:
    """A worker answers pings once its queue binding exists: only then may a test send it tasks."""
    app = celery_client(broker_url, installation_id)

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if app.control.ping(destination=[node], timeout=0.5):
            return
    raise TimeoutError(f"worker {node} did not answer")


@contextmanager
def solo_worker(name: str, queues: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker (solo pool) on the configured broker serving `queues`, answering pings as
    `name@<host>` before the block runs; stopped after it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "smartmine", "worker", "--pool", "solo", "-l", "WARNING",
         "-Q", queues, "-n", f"{name}@%h", "--without-mingle", "--without-gossip"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_worker(f"{name}@{socket.gethostname()}", timeout_s=60)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def current_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    from bench.common import connection_url

    return connection_url()


@dataclass
class System:
    env: dict[str, str]
    api_port: int = 0
    ws_port: int = 0
    queue: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)


@contextmanager
def running_system(*, web: bool = True, worker: bool = True, **env_overrides: str) -> Iterator[System]:
    """daphne (API port + WebSocket port) and/or a solo worker on a private queue, on the test database."""
    system = System(env={})
    system.api_port, system.ws_port, system.queue = (
        free_port(),
        free_port(),
        f"test-{os.getpid()}-{free_port()}",
    )
    from django.conf import settings

    system.env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "INSTALLATION_ID": settings.INSTALLATION_ID,  # the test process's: it sends the tasks and ticks
        "API_PORT": str(system.api_port),
        "WEBSOCKET_PORT": str(system.ws_port),
        "API_ALLOW_ANONYMOUS_READ": "true",
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
        **env_overrides,
    }
    python, quiet = sys.executable, {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        if web:
            system.processes["web"] = subprocess.Popen(
                [python, "-m", "daphne", "-e", f"tcp:port={system.api_port}:interface=127.0.0.1",
                 "-e", f"tcp:port={system.ws_port}:interface=127.0.0.1", "smartmine.asgi:application"],
                cwd=ROOT, env=system.env, **quiet,
            )  # fmt: skip
        if worker:
            system.processes["worker"] = subprocess.Popen(
                [python, "-m", "celery", "-A", "smartmine", "worker", "--pool", "solo", "-Q", system.queue,
                 "-n", f"{system.queue}@%h", "-l", "WARNING", "--without-mingle", "--without-gossip"],
                cwd=ROOT, env=system.env, **quiet,
            )  # fmt: skip
        if web:
            wait_for_port(system.api_port)
            wait_for_port(system.ws_port)
        if worker:
            wait_for_worker(
                f"{system.queue}@{socket.gethostname()}",
                broker_url=env_overrides.get("REDIS_URL"),
                installation_id=system.env["INSTALLATION_ID"],
            )
        yield system
    finally:
        stop(system.processes.values())


@contextmanager
def private_redis(workdir: Path) -> Iterator[str]:
    """A Redis of the test's own: the real queue names of `make run` without meeting anyone else's workers."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)], stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _port_range(variable: str, default: range) -> range:
    """`first-last` from the environment (several checkouts testing on one machine each keep their own)."""
    text = os.environ.get(variable, "")
    if not text:
        return default
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)


#: The ports tests may give a private Mosquitto (the machine's own broker at 1883 is shared and anonymous);
#: TEST_MOSQUITTO_PORTS=18180-18189 moves them.
MOSQUITTO_PORTS = _port_range("TEST_MOSQUITTO_PORTS", range(18883, 18890))


@contextmanager
def private_mosquitto(workdir: Path, gateways=()) -> Iterator:
    """A Mosquitto of the test's own, with SmartMine's password file and ACL: yields the ingest Broker."""
    from smartmine import mqttbroker

    port = next((port for port in MOSQUITTO_PORTS if not _port_taken(port)), None)
    if port is None:
        raise RuntimeError(f"no free port for a test Mosquitto in {MOSQUITTO_PORTS}")
    directory = workdir / "mosquitto"
    password = mqttbroker.ingest_password(directory)
    mqttbroker.write_auth_files(directory, ingest_password=password, gateways=gateways)
    try:
        yield mqttbroker.start(directory, port)
    finally:
        mqttbroker.stop(directory)


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ingest_mqtt(broker, *args: str, **env_overrides: str) -> subprocess.Popen:
    """A real `manage.py ingest_mqtt` on the test database and `broker`; connected when this returns."""
    from urllib.parse import quote

    from django.conf import settings

    url = f"mqtt://{quote(broker.username)}:{quote(broker.password)}@{broker.host}:{broker.port}"
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "INSTALLATION_ID": settings.INSTALLATION_ID,
        "MQTT_URL": url,
        "LOG_FILE": "",
        "LOG_LEVEL": "INFO",
        **env_overrides,
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "ingest_mqtt", "--batch-ms", "20", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    subscribed = threading.Event()
    process.log_lines = []  # its log, read all along so a full pipe never blocks it

    def read_log() -> None:
        for line in process.stdout:
            process.log_lines.append(line)
            if "mqtt subscribed" in line:
                subscribed.set()

    threading.Thread(target=read_log, daemon=True).start()
    deadline = time.monotonic() + 60
    while not subscribed.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"ingest_mqtt did not subscribe: {''.join(process.log_lines)[-2000:]}")
    return process


@contextmanager
def running_layout(
    *, redis_url: str, workdir: Path, names: tuple[str, ...] | None = None, **env_overrides: str
) -> Iterator[System]:
    """The processes `make run` starts (runsystem.process_commands: web, a worker per queue, beat) with their
    own command lines, on the test database and a private Redis; logs in workdir/<name>.log."""
    from django.conf import settings
    from django.test import override_settings

    from smartmine.management.commands.runsystem import WORKERS, process_commands

    system = System(env={}, api_port=free_port())
    system.ws_port = system.api_port
    with override_settings(API_HOST="127.0.0.1", API_PORT=system.api_port, WEBSOCKET_PORT=system.api_port):
        commands = {name: shlex.split(line) for name, line in process_commands(sys.executable).items()}
    beat = commands["beat"]
    beat[beat.index("--pidfile") + 1] = str(workdir / "beat.pid")
    system.env = {
        **os.environ, "DATABASE_URL": current_database_url(), "REDIS_URL": redis_url,
        "API_PORT": str(system.api_port), "WEBSOCKET_PORT": str(system.api_port), "LOG_FILE": "",
        "LOG_LEVEL": "INFO", "INSTALLATION_ID": settings.INSTALLATION_ID, **env_overrides,
    }  # fmt: skip
    try:
        for name in names or tuple(commands):
            with (workdir / f"{name}.log").open("ab") as log:
                system.processes[name] = subprocess.Popen(
                    commands[name], cwd=ROOT, env=system.env, stdout=log, stderr=subprocess.STDOUT
                )
        if "web" in system.processes:
            wait_for_port(system.api_port)
        for name in system.processes.keys() & WORKERS.keys():
            wait_for_worker(  # in the processes' namespace, which env_overrides may have changed
                f"{name}@{socket.gethostname()}",
                broker_url=redis_url,
                installation_id=system.env["INSTALLATION_ID"],
            )
        yield system
    finally:
        stop(system.processes.values())


def api_call(
    port: int, path: str, token: str | None = None, body: dict | None = None, timeout_s: float = 10
) -> tuple[int, dict]:
    """One request to the API a test started: a POST when there is a token or a body, else a GET; the status
    and the JSON body, for error statuses too."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Token {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else (b"" if token else None)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def tick_age_s(site_id: int) -> float:
    """Seconds since the site's last applied tick, read from the database (infinite before the first)."""
    from django.utils import timezone

    from fleet.models import Site

    last = Site.objects.values_list("last_tick_at", flat=True).get(pk=site_id)
    return (timezone.now() - last).total_seconds() if last else float("inf")


def stop(processes) -> None:
    """Ask every process to stop (SIGTERM) at once, then wait for each, killing one that takes over 30 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
