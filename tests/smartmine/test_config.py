"""Configuration parsing: defaults, the original variable names, and one clear error per bad value."""

import subprocess
import sys

import pytest

from smartmine.config import ConfigError, load_config

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_the_original_backend_defaults_hold_when_nothing_is_set():
    config = load_config({})
    assert (config.api_host, config.api_port, config.api_debug) == ("localhost", 5000, False)
    assert (config.websocket_host, config.websocket_port) == ("localhost", 8766)
    assert config.simulation_interval_s == 5.0
    assert (config.max_trucks, config.max_crushers, config.max_stockpiles) == (15, 3, 4)
    assert (config.log_level, config.log_file) == ("INFO", "smartmine.log")
    assert config.cors_origins == ("http://localhost:3000", "http://localhost:5173")
    assert config.api_allow_anonymous_read is False
    assert config.readings_future_margin_s == 300


def test_values_are_parsed_into_their_types():
    config = load_config(
        {
            "API_PORT": "8000",
            "API_DEBUG": "True",
            "SIMULATION_INTERVAL": "0.5",
            "MAX_TRUCKS": "1000",
            "LOG_LEVEL": "debug",
            "CORS_ORIGINS": "https://a.example, http://b.example:8080/",
            "DATABASE_URL": "postgres://mine:secret@db.internal:6543/twin",
            "API_ALLOW_ANONYMOUS_READ": "yes",
            "READINGS_FUTURE_MARGIN_S": "60",
        }
    )
    assert config.api_port == 8000 and config.api_debug is True
    assert config.simulation_interval_s == 0.5 and config.max_trucks == 1000
    assert config.log_level == "DEBUG"
    assert config.cors_origins == ("https://a.example", "http://b.example:8080")
    assert config.database["NAME"] == "twin" and config.database["PORT"] == 6543
    assert config.database_url_explicit is True and config.redis_url_explicit is False
    assert config.api_allow_anonymous_read is True
    assert config.readings_future_margin_s == 60


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("API_PORT", "abc", "a whole number from 1 to 65535"),
        ("API_PORT", "70000", "a whole number from 1 to 65535"),
        ("WEBSOCKET_PORT", "0", "a whole number from 1 to 65535"),
        ("SIMULATION_INTERVAL", "-1", "above 0"),
        ("SIMULATION_INTERVAL", "nan", "above 0"),
        ("MAX_TRUCKS", "0", "a whole number from 1"),
        ("MAX_CRUSHERS", "many", "a whole number from 1"),
        ("API_DEBUG", "maybe", "true or false"),
        ("LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("LOG_FORMAT", "xml", "one of keyvalue, json"),
        ("DATABASE_URL", "not a url", "a PostgreSQL URL"),
        ("DATABASE_URL", "mysql://h/db", "a PostgreSQL URL"),
        ("DATABASE_URL", "postgres://h:port/db", "a PostgreSQL URL"),
        ("DATABASE_URL", "postgres://h:5432", "a PostgreSQL URL"),
        ("DATABASE_POOL_SIZE", "-1", "a whole number from 0 to 500"),
        ("DATABASE_POOL_TIMEOUT", "0", "above 0"),
        ("REDIS_URL", "http://h:6379", "a Redis URL"),
        ("CORS_ORIGINS", "http://ok.example,ftp://bad", "origins"),
        ("ENVIRONMENT", "staging", "development, production"),
        ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-net", "networks"),
        ("INSTALLATION_ID", "Production", "lower-case letters, digits and hyphens"),
        ("INSTALLATION_ID", "../models", "lower-case letters, digits and hyphens"),
        ("INSTALLATION_ID", "x" * 33, "1 to 32"),
        ("READINGS_FUTURE_MARGIN_S", "-1", "a whole number from 0 to 86400"),
        ("READINGS_FUTURE_MARGIN_S", "a week", "a whole number from 0 to 86400"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_accepted(name, value, accepted):
    with pytest.raises(ConfigError) as raised:
        load_config({name: value})
    message = str(raised.value)
    assert name in message and accepted in message
    assert "\n" not in message


def test_the_pool_is_on_by_default_and_zero_turns_it_off():
    assert load_config({}).database_pool_size == 10
    assert load_config({"DATABASE_POOL_SIZE": "0"}).database_pool_size == 0
    assert load_config({"DATABASE_POOL_TIMEOUT": "2.5"}).database_pool_timeout_s == 2.5


def test_each_database_is_its_own_installation_unless_installation_id_says_otherwise():
    def installation(url: str, **more: str) -> str:
        return load_config({"DATABASE_URL": url, **more}).installation_id

    staging = installation("postgres://mine@127.0.0.1:5432/smartmine_staging")
    assert staging.startswith("smartmine-staging-") and len(staging) <= 32
    assert staging != installation("postgres://mine@127.0.0.1:5432/smartmine")
    assert staging != installation("postgres://mine@db.internal:5432/smartmine_staging")
    assert staging == installation("postgres://other:secret@localhost/smartmine_staging")  # one loopback host
    assert installation("postgres://h/db", INSTALLATION_ID="mine-2") == "mine-2"


def test_production_refuses_a_missing_or_example_secret_key_without_printing_it():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"ENVIRONMENT": "production"})
    with pytest.raises(ConfigError) as raised:
        load_config({"ENVIRONMENT": "production", "SECRET_KEY": "change-me-to-a-long-random-string"})
    assert "change-me" not in str(raised.value)
    config = load_config({"ENVIRONMENT": "production", "SECRET_KEY": "x" * 50})
    assert config.production and config.secret_key == "x" * 50


@pytest.mark.parametrize(
    "assignment", ["API_PORT=abc", "SIMULATION_INTERVAL=-1", "MAX_TRUCKS=0", "DATABASE_URL=postgres://:x:/"]
)
def test_start_up_with_a_bad_value_prints_one_line_and_exits_non_zero(assignment):
    name, value = assignment.split("=", 1)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith(f"configuration error: {name}=") and "Traceback" not in result.stderr
