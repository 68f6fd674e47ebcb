"""Shared fixtures. Integration tests use the real PostgreSQL and Redis (see `make test`), never mocks."""

import pytest


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
