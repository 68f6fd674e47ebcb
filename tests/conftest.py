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


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
