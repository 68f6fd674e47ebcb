"""The private Mosquitto of a checkout: its configuration, password file and ACL under var/mosquitto/.

No Django import: smartmine.devservices starts it before anything else runs, and the tests start their own
on a free port. Devices authenticate: one user per gateway (its API token is its MQTT password), each
allowed to publish only under its site's topics and to read its rejections; the ingest process has its own
user, which reads every telemetry topic and writes the rejections (docs/telemetry.md).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from smartmine.config import VAR_DIR
from smartmine.platform.mqtt import Broker, password_hash, probe

INGEST_USER = "smartmine-ingest"
#: Where `make run` keeps its private broker (devservices) and `manage.py mqtt_credentials` writes.
BROKER_DIR = VAR_DIR / "mosquitto"
#: Every MQTT 5 client may hold this many unacknowledged QoS 1 messages from the broker (ingest batches).
MAX_INFLIGHT = 10_000
#: Messages queued per offline persistent session (an ingest process restarting) before the broker drops.
MAX_QUEUED = 1_000_000


@dataclass(frozen=True)
class Gateway:
    """A gateway account: it publishes as `username` with `password` for the sites (slugs) `sites`."""

    username: str
    password: str
    sites: tuple[str, ...]


def acl_text(gateways: Iterable[Gateway], ingest_user: str = INGEST_USER) -> str:
    """The ACL: the ingest user reads all telemetry and writes rejections; a gateway only its site's."""
    lines = [
        "# Written by SmartMine (manage.py mqtt_credentials): do not edit, it is rewritten.",
        f"user {ingest_user}",
        "topic read smartmine/+/+/+/telemetry",
        "topic write smartmine/+/+/+/telemetry/rejected",
    ]
    for gateway in gateways:
        lines += ["", f"user {gateway.username}"]
        for site in gateway.sites:
            lines += [
                f"topic write smartmine/{site}/+/+/telemetry",
                f"topic read smartmine/{site}/+/+/telemetry/rejected",
            ]
    return "\n".join(lines) + "\n"


def passwd_text(users: dict[str, str]) -> str:
    """username -> password, as mosquitto's password file (PBKDF2-SHA512 hashes)."""
    for username in users:
        if not username or ":" in username or "\n" in username:
            raise ValueError(f"{username!r} cannot be an MQTT user name (no ':' or newline)")
    return "".join(f"{name}:{password_hash(password)}\n" for name, password in users.items())


def write_auth_files(directory: Path, *, ingest_password: str, gateways: Iterable[Gateway]) -> None:
    """Write passwd and acl (mode 600) atomically; a running broker reads them again on SIGHUP (reload)."""
    gateways = list(gateways)
    users = {INGEST_USER: ingest_password, **{gateway.username: gateway.password for gateway in gateways}}
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (("passwd", passwd_text(users)), ("acl", acl_text(gateways))):
        temporary = directory / f".{name}.tmp"
        temporary.write_text(text)
        temporary.chmod(0o600)
        temporary.replace(directory / name)


def ingest_password(directory: Path) -> str:
    """The ingest user's password, generated once and kept beside the password file."""
    path = directory / "ingest.password"
    if path.is_file():
        return path.read_text().strip()
    directory.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    path.write_text(password)
    path.chmod(0o600)
    return password


def config_text(directory: Path, port: int) -> str:
    directory = directory.resolve()
    return "\n".join(
        [
            "# Written by SmartMine (smartmine/mqttbroker.py).",
            f"listener {port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {directory / 'passwd'}",
            f"acl_file {directory / 'acl'}",
            "persistence true",
            f"persistence_location {directory}/",
            "autosave_interval 10",
            f"max_inflight_messages {MAX_INFLIGHT}",
            f"max_queued_messages {MAX_QUEUED}",
            f"pid_file {directory / 'mosquitto.pid'}",
            f"log_dest file {directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"user {getpass.getuser()}",  # as root: stay root, so var/ stays readable and writable
            "",
        ]
    )


def start(directory: Path, port: int, *, binary: str | None = None, timeout_s: float = 10) -> Broker:
    """Start a private Mosquitto (daemon) on 127.0.0.1:port with auth files under directory; wait for it.

    The auth files must exist (write_auth_files); returns the ingest user's broker address.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "mosquitto.conf"
    config.write_text(config_text(directory, port))
    subprocess.run([binary or installed() or "mosquitto", "-c", str(config), "-d"], check=True)
    broker = Broker("127.0.0.1", port, INGEST_USER, ingest_password(directory))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            probe(broker)
            return broker
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def installed() -> str | None:
    """The mosquitto binary (Debian puts it in /usr/sbin, outside a user's PATH), or None."""
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return found if Path(found).is_file() else None


def pid(directory: Path) -> int | None:
    try:
        return int((directory / "mosquitto.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None


def reload(directory: Path) -> bool:
    """Make a running private broker read its password file and ACL again; False when none runs."""
    running = pid(directory)
    if running is None:
        return False
    try:
        os.kill(running, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def stop(directory: Path, timeout_s: float = 10) -> None:
    running = pid(directory)
    if running is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(running, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(running):
            time.sleep(0.05)
    (directory / "mosquitto.pid").unlink(missing_ok=True)


def _alive(process_id: int) -> bool:
    """Running, and not a zombie left for an init that is slow to reap (containers)."""
    try:
        state = Path(f"/proc/{process_id}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
