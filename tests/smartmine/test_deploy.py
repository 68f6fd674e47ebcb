"""Production settings pass Django's deployment checks; unsafe production values are refused at start-up."""

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from smartmine.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"PATH": "/usr/bin:/bin", "ENVIRONMENT": "production", "ALLOWED_HOSTS": "mine.example.com"}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, SECRET_KEY=secrets.token_urlsafe(50)
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_real_secret_key():
    result = manage("check", **PRODUCTION)
    assert result.returncode == 2 and result.stderr.startswith("configuration error: SECRET_KEY=")


def test_production_refuses_debug():
    with pytest.raises(ConfigError, match="API_DEBUG"):
        load_config({"ENVIRONMENT": "production", "SECRET_KEY": "k" * 40, "API_DEBUG": "true"})
