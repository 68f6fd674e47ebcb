"""Shared fixtures. Integration tests use the real PostgreSQL and Redis (see `make test`), never mocks."""

import pytest


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()
