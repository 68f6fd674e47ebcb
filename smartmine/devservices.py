"""Make sure PostgreSQL, Redis and an MQTT broker answer for `make run` / `make test`, or start private ones.

- A URL the user configured (environment or .env) must answer; if it does not, stop with a clear error.
- The default URLs are tried first; when nothing answers there, a private PostgreSQL cluster (initdb +
  pg_ctl), a private redis-server and a private Mosquitto (password file and ACL, smartmine.mqttbroker)
  are started under var/ on free ports, and their URLs are written to
  var/runtime.env, which smartmine.config reads below .env. Missing server packages are installed with apt
  when we are root; otherwise the exact command to install them is printed.

Usage: python -m smartmine.devservices run -- COMMAND...   (ensure, run, stop what this run started)
       python -m smartmine.devservices ensure | stop | status
No Django import: this runs before the database exists.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql

from smartmine import mqttbroker
from smartmine.config import RUNTIME_ENV_FILE, VAR_DIR, ConfigError, load_config
from smartmine.platform.mqtt import Broker, probe

PG_DIR = VAR_DIR / "postgres"
REDIS_DIR = VAR_DIR / "redis"
PRIVATE_PG_USER = "smartmine"
INSTALL_HINT = "sudo apt-get install -y postgresql redis-server mosquitto"


class ServiceError(RuntimeError):
    """A server that cannot be reached or started; the message says what to do."""


def say(message: str) -> None:
    print(f"[services] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float = 60) -> None:
    """Until something listens on 127.0.0.1:port (a server we just started)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _port_taken(port):
            return
        time.sleep(0.2)
    raise ServiceError(f"nothing listens on port {port} after {timeout_s:g} s")


# --- runtime.env: the URLs of private servers -------------------------------------------------------------


def read_runtime_env() -> dict[str, str]:
    if not RUNTIME_ENV_FILE.is_file():
        return {}
    pairs = (line.split("=", 1) for line in RUNTIME_ENV_FILE.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def write_runtime_env(values: dict[str, str]) -> None:
    VAR_DIR.mkdir(exist_ok=True)
    if not values:
        RUNTIME_ENV_FILE.unlink(missing_ok=True)
        return
    lines = ["# Written by smartmine.devservices: URLs of private servers under var/. Safe to delete."]
    lines += [f"{key}={value}" for key, value in sorted(values.items())]
    RUNTIME_ENV_FILE.write_text("\n".join(lines) + "\n")


# --- probes -----------------------------------------------------------------------------------------------


def postgres_answers(url: str, dbname: str = "postgres") -> bool:
    """True when a PostgreSQL server accepts a connection at url (to its maintenance database)."""
    try:
        with psycopg.connect(_with_dbname(url, dbname), connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path="/" + dbname).geturl()


def ensure_database(url: str) -> None:
    """Create the configured database if the server has none of that name."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_with_dbname(url, "postgres"), autocommit=True, connect_timeout=5) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            say(f"created database {name}")


# --- installing and starting private servers --------------------------------------------------------------


def _apt_install(*packages: str) -> None:
    if os.geteuid() != 0:
        raise ServiceError(f"{', '.join(packages)} not installed; install with: {INSTALL_HINT}")
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def postgres_bin(name: str) -> str:
    """The newest installed PostgreSQL server binary (Debian keeps them out of PATH)."""
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key)
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    _apt_install("postgresql")
    return postgres_bin(name)


def _version_key(path: str) -> int:
    version = Path(path).parent.parent.name
    return int(version) if version.isdigit() else 0


@dataclass
class PostgresRunner:
    """How to run the PostgreSQL binaries: they refuse to run as root, so root runs them as `postgres`."""

    user: str | None

    @classmethod
    def detect(cls) -> PostgresRunner:
        if os.geteuid() != 0:
            return cls(user=None)
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
        return cls(user="postgres")

    def run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        command = ["runuser", "-u", self.user, "--", *args] if self.user else list(args)
        return subprocess.run(command, cwd="/", **kwargs)  # `postgres` may not be allowed into our cwd

    def own(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _data_dir(runner: PostgresRunner) -> Path:
    """var/postgres, or, when root's checkout is not readable by `postgres`, a link from it to /tmp."""
    if PG_DIR.exists() or PG_DIR.is_symlink():
        return PG_DIR.resolve()
    VAR_DIR.mkdir(exist_ok=True)
    if runner.user and runner.run("test", "-x", str(VAR_DIR), capture_output=True).returncode != 0:
        target = Path(f"/tmp/smartmine-postgres-{hashlib.sha256(bytes(PG_DIR)).hexdigest()[:12]}")
        target.mkdir(mode=0o700, exist_ok=True)
        PG_DIR.symlink_to(target)
    else:
        PG_DIR.mkdir(mode=0o700)
    runner.own(PG_DIR.resolve())
    return PG_DIR.resolve()


def start_private_postgres() -> str:
    runner = PostgresRunner.detect()
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    data = _data_dir(runner)
    if not (data / "PG_VERSION").exists():
        say(f"initialising a private PostgreSQL cluster in {PG_DIR}")
        runner.run(
            initdb, "-D", str(data), "-U", PRIVATE_PG_USER, "--auth=trust", "-E", "UTF8", "--no-instructions",
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    port_file = data / "smartmine.port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    url = f"postgres://{PRIVATE_PG_USER}@127.0.0.1:{port}/smartmine"
    if postgres_answers(url):
        return url
    if _port_taken(port):
        port = free_port()
        url = f"postgres://{PRIVATE_PG_USER}@127.0.0.1:{port}/smartmine"
    port_file.write_text(str(port))
    runner.own(port_file)
    options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
    say(f"starting private PostgreSQL on 127.0.0.1:{port}")
    runner.run(
        pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "-t", "60", "start",
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    if not postgres_answers(url):
        raise ServiceError(f"private PostgreSQL did not answer on port {port}; see {data / 'server.log'}")
    return url


def stop_private_postgres() -> None:
    data = PG_DIR.resolve()
    if not (data / "postmaster.pid").exists():
        return
    say("stopping private PostgreSQL")
    PostgresRunner.detect().run(
        postgres_bin("pg_ctl"),
        "-D",
        str(data),
        "-m",
        "fast",
        "-w",
        "stop",
        check=False,
        stdout=subprocess.DEVNULL,
    )


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_private_redis() -> str:
    binary = shutil.which("redis-server") or (_apt_install("redis-server") or shutil.which("redis-server"))
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    port_file = REDIS_DIR / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    url = f"redis://127.0.0.1:{port}/0"
    if redis_answers(url):
        return url
    if _port_taken(port):
        port = free_port()
        url = f"redis://127.0.0.1:{port}/0"
    port_file.write_text(str(port))
    say(f"starting private Redis on 127.0.0.1:{port}")
    subprocess.run(
        [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes", "--save", "",
            "--appendonly", "no", "--dir", str(REDIS_DIR), "--pidfile", str(REDIS_DIR / "redis.pid"),
            "--logfile", str(REDIS_DIR / "redis.log"),
        ],
        check=True,
    )  # fmt: skip
    for _ in range(50):
        if redis_answers(url):
            return url
        time.sleep(0.1)
    raise ServiceError(f"private Redis did not answer on port {port}; see {REDIS_DIR / 'redis.log'}")


def stop_private_redis() -> None:
    pid_file = REDIS_DIR / "redis.pid"
    if not pid_file.exists():
        return
    say("stopping private Redis")
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
    pid_file.unlink(missing_ok=True)


def mqtt_answers(url: str) -> bool:
    try:
        probe(Broker.from_url(url), timeout_s=2)
        return True
    except ConnectionError:
        return False


def start_private_mosquitto() -> str:
    """A Mosquitto under var/mosquitto with a password file and ACL (the ingest user; gateways are added by
    `manage.py mqtt_credentials`); returns the ingest user's MQTT_URL."""
    binary = mqttbroker.installed() or (_apt_install("mosquitto") or mqttbroker.installed())
    directory = mqttbroker.BROKER_DIR
    password = mqttbroker.ingest_password(directory)
    if not (directory / "passwd").exists():
        mqttbroker.write_auth_files(directory, ingest_password=password, gateways=[])
    port_file = directory / "port"
    port = int(port_file.read_text()) if port_file.exists() else free_port()
    url = f"mqtt://{mqttbroker.INGEST_USER}:{password}@127.0.0.1:{port}"
    if mqtt_answers(url):
        return url
    if _port_taken(port):
        port = free_port()
        url = f"mqtt://{mqttbroker.INGEST_USER}:{password}@127.0.0.1:{port}"
    port_file.write_text(str(port))
    say(f"starting private Mosquitto on 127.0.0.1:{port}")
    try:
        mqttbroker.start(directory, port, binary=binary)
    except (ConnectionError, subprocess.CalledProcessError) as error:
        raise ServiceError(
            f"private Mosquitto did not start ({error}); see {directory / 'mosquitto.log'}"
        ) from None
    return url


# --- the decisions ----------------------------------------------------------------------------------------


def ensure() -> list[str]:
    """Make PostgreSQL, Redis and the MQTT broker answer; return the private servers this call started."""
    runtime = read_runtime_env()
    try:
        config = _config_without_runtime()
    except ConfigError as error:
        raise ServiceError(str(error)) from None
    started: list[str] = []
    new_runtime: dict[str, str] = {}

    def serve(key: str, url: str, explicit: bool, answers, start_private, label: str, name: str) -> str:
        """The configured server when it answers (it must, when given explicitly), else a private one."""
        if explicit:
            if not answers(url):
                raise ServiceError(
                    f"{key}={_safe(url)} does not answer (or refuses its user); start that server, or unset "
                    f"{key} to let SmartMine start a private one"
                )
            return url
        if answers(url):
            say(f"{label} answers at {_safe(url)}")
            return url
        say(f"nothing answers at {_safe(url)}; using a private {label} under var/")
        was_running = runtime.get(key) and answers(runtime[key])
        new_runtime[key] = start_private()
        if not was_running:
            started.append(name)
        return new_runtime[key]

    database_url = serve(
        "DATABASE_URL", config.database_url, config.database_url_explicit, postgres_answers,
        start_private_postgres, "PostgreSQL", "postgres",
    )  # fmt: skip
    ensure_database(database_url)
    serve(
        "REDIS_URL", config.redis_url, config.redis_url_explicit, redis_answers, start_private_redis,
        "Redis", "redis",
    )  # fmt: skip
    serve(
        "MQTT_URL", config.mqtt_url, config.mqtt_url_explicit, mqtt_answers, start_private_mosquitto,
        "Mosquitto", "mosquitto",
    )  # fmt: skip

    write_runtime_env(new_runtime)
    return started


def _config_without_runtime():
    """The configuration as the user gave it (environment and .env), ignoring var/runtime.env."""
    from smartmine.config import BASE_DIR, read_env_file

    read_env_file(BASE_DIR / ".env")
    return load_config(dict(os.environ), set(os.environ))


def _safe(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
    return url


def ensure_program(names: tuple[str, ...], package: str, purpose: str) -> str:
    """A program from Debian's packages that tests or benchmarks need, installed with apt when we are root."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() != 0:
        raise ServiceError(f"{names[0]} missing ({purpose}); install with: sudo apt-get install -y {package}")
    _apt_install(package)
    return ensure_program(names, package, purpose)


def stop(which: list[str] | None = None) -> None:
    which = which or ["postgres", "redis", "mosquitto"]
    if "mosquitto" in which and mqttbroker.pid(mqttbroker.BROKER_DIR):
        say("stopping private Mosquitto")
        mqttbroker.stop(mqttbroker.BROKER_DIR)
    if "redis" in which:
        stop_private_redis()
    if "postgres" in which:
        stop_private_postgres()


def status() -> None:
    runtime = read_runtime_env()
    probes = (("DATABASE_URL", postgres_answers), ("REDIS_URL", redis_answers), ("MQTT_URL", mqtt_answers))
    for key, answers in probes:
        url = runtime.get(key)
        say(
            f"{key}: private {'up' if url and answers(url) else 'not running'}"
            if url
            else f"{key}: not private"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m smartmine.devservices", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=["ensure", "run", "stop", "status", "browser", "bench-tools"])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="with run: the command to run, after --")
    args = parser.parse_args(argv)
    try:
        if args.action == "status":
            status()
            return 0
        if args.action == "stop":
            stop()
            return 0
        if args.action == "browser":
            say(f"Chromium: {ensure_program(('chromium', 'chromium-browser'), 'chromium', 'browser test')}")
            return 0
        if args.action == "bench-tools":
            say(f"wrk: {ensure_program(('wrk',), 'wrk', 'HTTP load benchmark')}")
            return 0
        started = ensure()
    except (ServiceError, subprocess.CalledProcessError) as error:
        print(f"[services] error: {error}", file=sys.stderr)
        return 1
    if args.action == "ensure":
        return 0
    command = [part for part in args.command if part != "--"] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after --")
    process = subprocess.Popen(command)
    try:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:  # Ctrl-C reached the child too (same process group); wait for it
                continue
    finally:
        stop(started)


if __name__ == "__main__":
    sys.exit(main())
