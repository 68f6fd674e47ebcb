"""Shared fixtures. Integration tests use the real PostgreSQL and Redis (see `make test`), never mocks."""

import os

import pytest

#: INSTALLATION_ID is at most 32 characters (smartmine.config); a worker's suffix must fit in.
_INSTALLATION_ID_MAX = 32


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_newgateway(gateway) -> None:
    """Each pytest-xdist worker (`make test` runs two) in a Redis namespace of its own.

    pytest-django gives each worker its own test database (`test_<name>_gw0`, ...); the installation id
    names everything else a test run keeps on the shared Redis: Celery queues, Channels groups, caches and
    locks. Without its own, one worker's Celery or live clients would take the other's tasks and frames.
    It is set in the worker process before pytest-django reads the settings there, and the daphne, Celery
    and ingest processes its tests start inherit it.
    """
    suffix = f"-{gateway.id}"
    base = os.environ.get("INSTALLATION_ID", "smartmine-tests")[: _INSTALLATION_ID_MAX - len(suffix)]
    gateway.remote_exec(f"import os; os.environ['INSTALLATION_ID'] = {base + suffix!r}").waitclose()


@pytest.fixture(scope="session", autouse=True)
def _close_connections_after_use():
    """Connections opened in worker threads (Channels' database_sync_to_async, health checks) close after
    each use in tests; persistent or pooled ones would keep the test database busy when it is dropped."""
    from django.conf import settings

    if not settings.configured:  # pure-logic runs without pytest-django (-p no:django)
        return
    from django.db import connections

    connections.settings["default"]["CONN_MAX_AGE"] = 0
    # No pool inside the pytest process: fault tests cut every backend of the test database, and a pool
    # refilling behind a test's back made setup time out. The daphne and worker processes that tests start
    # (tests/processes.py) keep the configured pool, and the pool tests run there.
    connections["default"].close_pool()
    connections.settings["default"]["OPTIONS"].pop("pool", None)


@pytest.fixture(autouse=True)
def _readings_window_spans_the_fixed_test_dates():
    """Tests pin readings to fixed dates (2025, 2031) so their figures never depend on the day they run,
    while the window of reading times kept (docs/history.md) moves with now: here it reaches ten years
    either way (a 2099 reading is still too far ahead, a year-2000 partition still expired). Tests about the
    window set READINGS_RETENTION_DAYS and READINGS_FUTURE_MARGIN_S themselves (pytest-django's
    `settings`)."""
    from django.conf import settings

    if not settings.configured:  # pure-logic runs without pytest-django (-p no:django)
        yield
        return
    from django.test import override_settings

    with override_settings(READINGS_RETENTION_DAYS=3_650, READINGS_FUTURE_MARGIN_S=3_650 * 86_400):
        yield


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
