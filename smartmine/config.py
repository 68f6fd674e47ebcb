"""Configuration from the environment and an optional `.env` file, validated once at start-up.

No Django import: `manage.py`, daphne (asgi.py), Celery and the dev-services script all call
`load_config_or_exit()` first, so a bad value stops every process with one line that names the variable,
the value and what is accepted, instead of a traceback from deep inside Django.

Precedence: the process environment, then `.env`, then `var/runtime.env` (written by
`python -m smartmine.devservices` when it had to start private PostgreSQL/Redis servers), then defaults.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
RUNTIME_ENV_FILE = VAR_DIR / "runtime.env"

DEFAULT_DATABASE_URL = "postgres://127.0.0.1:5432/smartmine"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("keyvalue", "json")
ENVIRONMENTS = ("development", "production")
SECRET_VARIABLES = frozenset({"SECRET_KEY", "METRICS_TOKEN"})
#: Lower-case letters, digits and hyphens: safe in Redis key and channel names and as a directory name.
INSTALLATION_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message is meant for the person starting the system."""

    def __init__(self, name: str, value: str, accepted: str) -> None:
        self.name, self.value, self.accepted = name, value, accepted
        shown = f"<hidden, {len(value)} characters>" if name in SECRET_VARIABLES else repr(value)
        super().__init__(f"configuration error: {name}={shown} is not valid: expected {accepted}")


@dataclass(frozen=True)
class Config:
    """Every setting the project reads from the environment, already parsed and checked."""

    environment: str = "development"
    api_host: str = "localhost"
    api_port: int = 5000
    api_debug: bool = False
    websocket_host: str = "localhost"
    websocket_port: int = 8766
    simulation_interval_s: float = 5.0
    simulation_speed: float = 1.0
    max_trucks: int = 15
    max_crushers: int = 3
    max_stockpiles: int = 4
    log_level: str = "INFO"
    log_file: str = "smartmine.log"
    log_format: str = "keyvalue"
    cors_origins: tuple[str, ...] = ("http://localhost:3000", "http://localhost:5173")
    database_url: str = DEFAULT_DATABASE_URL
    database_url_explicit: bool = False
    database_pool_size: int = 10
    database_pool_timeout_s: float = 5.0
    redis_url: str = DEFAULT_REDIS_URL
    redis_url_explicit: bool = False
    mqtt_url: str = DEFAULT_MQTT_URL
    mqtt_url_explicit: bool = False
    secret_key: str = ""
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    api_allow_anonymous_read: bool = False
    metrics_token: str = ""
    metrics_allowed_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    readings_retention_days: int = 30
    readings_future_margin_s: int = 300
    telemetry_stale_after_s: float = 120.0
    rollup_retention_days: int = 365
    installation_id: str = ""
    tick_concurrency: int = 2
    ml_bootstrap: bool = True
    batch_concurrency: int = 1
    web_concurrency: int = 1
    database: dict[str, Any] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"


def _layered_environment() -> tuple[dict[str, str], set[str]]:
    """The process environment over `.env` over `var/runtime.env`, and the names the user set explicitly.

    django-environ loads files into os.environ without overwriting what is already set, which gives exactly
    this precedence, and child processes (workers, beat) inherit the result.
    """
    read_env_file(BASE_DIR / ".env")
    explicit = set(os.environ)
    read_env_file(RUNTIME_ENV_FILE)
    return dict(os.environ), explicit


def read_env_file(path: Path) -> None:
    if path.is_file():
        environ.Env.read_env(path, parse_comments=True)


class _Reader:
    """Reads one variable at a time, turning every parse failure into a ConfigError naming it."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values

    def raw(self, name: str, default: str) -> str:
        value = self.values.get(name)
        return default if value is None or value.strip() == "" else value.strip()

    def parse(self, name: str, default: str, parser: Callable[[str], T], accepted: str) -> T:
        value = self.raw(name, default)
        try:
            return parser(value)
        except (ValueError, TypeError):
            raise ConfigError(name, value, accepted) from None

    def boolean(self, name: str, default: bool) -> bool:
        truthy, falsy = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}

        def parse(value: str) -> bool:
            lowered = value.lower()
            if lowered not in truthy | falsy:
                raise ValueError(value)
            return lowered in truthy

        return self.parse(name, "true" if default else "false", parse, "true or false")

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        def parse(value: str) -> int:
            number = int(value)
            if not minimum <= number <= maximum:
                raise ValueError(value)
            return number

        return self.parse(name, str(default), parse, f"a whole number from {minimum} to {maximum}")

    def positive_float(self, name: str, default: float, maximum: float) -> float:
        def parse(value: str) -> float:
            number = float(value)
            if not 0 < number <= maximum:  # also rejects nan
                raise ValueError(value)
            return number

        return self.parse(name, str(default), parse, f"a number of seconds above 0 and at most {maximum:g}")

    def choice(self, name: str, default: str, choices: tuple[str, ...], upper: bool = False) -> str:
        def parse(value: str) -> str:
            normalised = value.upper() if upper else value.lower()
            if normalised not in choices:
                raise ValueError(value)
            return normalised

        return self.parse(name, default, parse, "one of " + ", ".join(choices))

    def csv(self, name: str, default: str) -> tuple[str, ...]:
        return tuple(item.strip() for item in self.raw(name, default).split(",") if item.strip())

    def items(self, name: str, default: str, parser: Callable[[str], T], accepted: str) -> tuple[T, ...]:
        """A comma-separated list whose every item must parse; the error names the variable and the item."""
        parsed = []
        for item in self.csv(name, default):
            try:
                parsed.append(parser(item))
            except (ValueError, TypeError):
                raise ConfigError(name, item, accepted) from None
        return tuple(parsed)


def _parse_host(value: str) -> str:
    if value in {"localhost", "0.0.0.0", "::"}:
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not value.replace("-", "").replace(".", "").isalnum():
            raise
    return value


def _parse_origin(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        raise ValueError(value)
    return value.rstrip("/")


def _parse_database_url(value: str) -> dict[str, Any]:
    parts = urlsplit(value)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"} or not parts.path.strip("/"):
        raise ValueError(value)
    parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    return environ.Env.db_url_config(value)


def _parse_redis_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "unix"} or not (parts.netloc or parts.path):
        raise ValueError(value)
    parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    return value


def _parse_mqtt_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "mqtt" or not parts.hostname or parts.path.strip("/"):
        raise ValueError(value)
    parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    return value


def _parse_installation_id(value: str) -> str:
    if not INSTALLATION_ID_PATTERN.fullmatch(value):
        raise ValueError(value)
    return value


def derived_installation_id(database: Mapping[str, Any]) -> str:
    """The installation id of a database when INSTALLATION_ID is not set: its name and a hash of where it is.

    Computed from the URL, without connecting, so every process (and `manage.py migrate` on an empty
    database, and daphne while PostgreSQL is down) knows its namespace before touching the database. The
    loopback names (localhost, 127.0.0.1, ::1, a Unix socket) count as one host, so processes on one machine
    agree however they name it; a database reached under another host name needs INSTALLATION_ID.
    """
    host = str(database.get("HOST") or "").lower().strip("[]")
    if host in {"", "localhost", "127.0.0.1", "::1"} or host.startswith("/"):
        host = "localhost"
    name = str(database.get("NAME") or "")
    where = f"{host}:{database.get('PORT') or 5432}/{name}"
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:19] or "db"
    return f"{readable}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


def redis_prefix(installation_id: str) -> str:
    """What every Celery broker key and Channels name of the installation starts with, on a shared Redis."""
    return f"smartmine.{installation_id}."


def _dev_secret_key() -> str:
    """A per-checkout random key for development, kept under var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(key, encoding="utf-8")
        path.chmod(0o600)
        return key


def load_config(values: Mapping[str, str] | None = None, explicit: set[str] | None = None) -> Config:
    """Parse and check every setting; raises ConfigError on the first bad one."""
    if values is None:
        values, explicit = _layered_environment()
    explicit = set(values) if explicit is None else explicit
    read = _Reader(values)
    environment = read.choice("ENVIRONMENT", "development", ENVIRONMENTS)
    production = environment == "production"

    secret_key = read.raw("SECRET_KEY", "")
    if production and (len(secret_key) < 32 or secret_key == EXAMPLE_SECRET_KEY):
        raise ConfigError(
            "SECRET_KEY",
            secret_key,
            "a random string of at least 32 characters (not the example) in production",
        )
    if production and read.boolean("API_DEBUG", False):
        raise ConfigError("API_DEBUG", read.raw("API_DEBUG", ""), "false in production (debug pages leak)")
    database_url = read.raw("DATABASE_URL", DEFAULT_DATABASE_URL)
    database = read.parse(
        "DATABASE_URL",
        DEFAULT_DATABASE_URL,
        _parse_database_url,
        "a PostgreSQL URL such as postgres://user:password@host:5432/dbname",
    )
    return Config(
        environment=environment,
        api_host=read.parse("API_HOST", "localhost", _parse_host, "a host name or IP address"),
        api_port=read.integer("API_PORT", 5000, 1, 65535),
        api_debug=read.boolean("API_DEBUG", False),
        websocket_host=read.parse("WEBSOCKET_HOST", "localhost", _parse_host, "a host name or IP address"),
        websocket_port=read.integer("WEBSOCKET_PORT", 8766, 1, 65535),
        simulation_interval_s=read.positive_float("SIMULATION_INTERVAL", 5.0, 3600),
        simulation_speed=read.parse(
            "SIMULATION_SPEED", "1", _positive_number(1000), "a number above 0 and at most 1000"
        ),
        max_trucks=read.integer("MAX_TRUCKS", 15, 1, 5000),
        max_crushers=read.integer("MAX_CRUSHERS", 3, 1, 200),
        max_stockpiles=read.integer("MAX_STOCKPILES", 4, 1, 500),
        log_level=read.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
        log_file=values.get("LOG_FILE", "smartmine.log").strip(),
        log_format=read.choice("LOG_FORMAT", "keyvalue", LOG_FORMATS),
        cors_origins=read.items(
            "CORS_ORIGINS",
            "http://localhost:3000,http://localhost:5173",
            _parse_origin,
            "comma-separated origins such as http://localhost:3000",
        ),
        database_url=database_url,
        database_url_explicit="DATABASE_URL" in explicit,
        database=database,
        database_pool_size=read.integer("DATABASE_POOL_SIZE", 10, 0, 500),
        database_pool_timeout_s=read.positive_float("DATABASE_POOL_TIMEOUT", 5.0, 300),
        redis_url=read.parse(
            "REDIS_URL", DEFAULT_REDIS_URL, _parse_redis_url, "a Redis URL such as redis://host:6379/0"
        ),
        redis_url_explicit="REDIS_URL" in explicit,
        mqtt_url=read.parse(
            "MQTT_URL",
            DEFAULT_MQTT_URL,
            _parse_mqtt_url,
            "an MQTT broker URL such as mqtt://user:password@host:1883",
        ),
        mqtt_url_explicit="MQTT_URL" in explicit,
        secret_key=secret_key or _dev_secret_key(),
        allowed_hosts=read.csv("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]"),
        api_allow_anonymous_read=read.boolean("API_ALLOW_ANONYMOUS_READ", False),
        metrics_token=read.raw("METRICS_TOKEN", ""),
        metrics_allowed_networks=read.items(
            "METRICS_ALLOWED_NETWORKS",
            "127.0.0.0/8,::1/128",
            lambda value: str(ipaddress.ip_network(value, strict=False)),
            "comma-separated networks such as 10.0.0.0/8",
        ),
        readings_retention_days=read.integer("READINGS_RETENTION_DAYS", 30, 1, 36500),
        readings_future_margin_s=read.integer("READINGS_FUTURE_MARGIN_S", 300, 0, 86400),
        rollup_retention_days=read.integer("ROLLUP_RETENTION_DAYS", 365, 1, 36500),
        telemetry_stale_after_s=read.positive_float("TELEMETRY_STALE_AFTER_S", 120.0, 86400),
        tick_concurrency=read.integer("TICK_CONCURRENCY", 2, 1, 64),
        ml_bootstrap=read.boolean("ML_BOOTSTRAP", True),
        batch_concurrency=read.integer("BATCH_CONCURRENCY", 1, 1, 64),
        web_concurrency=read.integer("WEB_CONCURRENCY", os.cpu_count() or 1, 1, 64),
        installation_id=read.parse(
            "INSTALLATION_ID",
            derived_installation_id(database),
            _parse_installation_id,
            "1 to 32 lower-case letters, digits and hyphens, such as staging or mine-2",
        ),
    )


def _positive_number(maximum: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        number = float(value)
        if not 0 < number <= maximum:
            raise ValueError(value)
        return number

    return parse


_loaded: Config | None = None


def load_config_or_exit() -> Config:
    """Load the configuration once per process; on a bad value print one line and exit with status 2."""
    global _loaded
    if _loaded is None:
        try:
            _loaded = load_config()
        except ConfigError as error:
            print(error, file=sys.stderr)
            raise SystemExit(2) from None
    return _loaded
