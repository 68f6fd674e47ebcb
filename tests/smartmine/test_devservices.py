"""The dev-services script: real private servers under a scratch var/, and clear errors for bad URLs."""

import subprocess
import sys
from pathlib import Path

import pytest

from smartmine import devservices, mqttbroker
from smartmine.platform.mqtt import Broker, probe
from tests.processes import MOSQUITTO_PORTS, _port_taken

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch_var(tmp_path, monkeypatch):
    tmp_path.chmod(0o755)  # the private PostgreSQL runs as `postgres` when we are root
    monkeypatch.setattr(devservices, "VAR_DIR", tmp_path)
    monkeypatch.setattr(devservices, "PG_DIR", tmp_path / "postgres")
    monkeypatch.setattr(devservices, "REDIS_DIR", tmp_path / "redis")
    monkeypatch.setattr(devservices, "RUNTIME_ENV_FILE", tmp_path / "runtime.env")
    monkeypatch.setattr(mqttbroker, "BROKER_DIR", tmp_path / "mosquitto")
    return tmp_path


def test_a_private_redis_starts_answers_and_stops(scratch_var):
    url = devservices.start_private_redis()
    try:
        assert devservices.redis_answers(url)
        assert devservices.start_private_redis() == url  # a second call reuses the running server
    finally:
        devservices.stop_private_redis()
    assert not (scratch_var / "redis" / "redis.pid").exists()


def test_a_private_mosquitto_starts_with_its_ingest_user_refuses_strangers_and_stops(scratch_var):
    (scratch_var / "mosquitto").mkdir()
    port = next(port for port in MOSQUITTO_PORTS if not _port_taken(port))
    (scratch_var / "mosquitto" / "port").write_text(str(port))
    url = devservices.start_private_mosquitto()
    try:
        assert url.startswith(f"mqtt://{mqttbroker.INGEST_USER}:") and url.endswith(f"@127.0.0.1:{port}")
        assert devservices.mqtt_answers(url)
        with pytest.raises(ConnectionError, match="refused anonymous"):
            probe(Broker("127.0.0.1", port))
        assert devservices.start_private_mosquitto() == url  # a second call reuses the running broker
    finally:
        devservices.stop(["mosquitto"])
    assert not devservices.mqtt_answers(url)


@pytest.mark.slow
def test_a_private_postgres_cluster_starts_creates_the_database_and_stops(scratch_var):
    url = devservices.start_private_postgres()
    try:
        devservices.ensure_database(url)
        assert devservices.postgres_answers(url, dbname="smartmine")
    finally:
        devservices.stop_private_postgres()
    assert not devservices.postgres_answers(url)


def test_runtime_env_round_trips_and_an_empty_one_is_removed(scratch_var):
    devservices.write_runtime_env({"REDIS_URL": "redis://127.0.0.1:1234/0"})
    assert devservices.read_runtime_env() == {"REDIS_URL": "redis://127.0.0.1:1234/0"}
    devservices.write_runtime_env({})
    assert not (scratch_var / "runtime.env").exists()


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("DATABASE_URL", "postgres://127.0.0.1:1/smartmine"),
        ("REDIS_URL", "redis://127.0.0.1:1/0"),
        ("MQTT_URL", "mqtt://127.0.0.1:1"),
    ],
)
def test_an_explicit_url_that_does_not_answer_stops_with_a_clear_error(name, url):
    result = subprocess.run(
        [sys.executable, "-m", "smartmine.devservices", "ensure"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", name: url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert f"error: {name}=" in result.stderr and "does not answer" in result.stderr
