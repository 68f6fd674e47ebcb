"""The suite's own parallel run: each pytest-xdist worker keeps to its own namespace (tests/conftest.py)."""

import os

import pytest


def test_an_xdist_worker_has_its_own_database_and_redis_namespace(db, settings):
    from django.db import connection

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        pytest.skip("the suite runs in one process (TEST_WORKERS=0): there is no other worker to keep apart")
    assert settings.INSTALLATION_ID.endswith(f"-{worker}")
    assert settings.REDIS_PREFIX.endswith(f".{settings.INSTALLATION_ID}.")
    assert connection.settings_dict["NAME"].endswith(f"_{worker}")
