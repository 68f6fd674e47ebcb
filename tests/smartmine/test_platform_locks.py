"""Advisory locks are per database: another installation on the same PostgreSQL server never holds ours."""

import psycopg
import pytest
from django.db import connection

from smartmine.platform import locks
from tests.processes import current_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def hold_in(url: str, name: str) -> psycopg.Connection:
    """A session of its own holding the lock (until it is closed)."""
    session = psycopg.connect(url, autocommit=True)
    session.execute("SELECT pg_advisory_lock(%s, %s)", locks._keys(name, 0))
    return session


def test_a_lock_held_in_this_database_by_another_session_is_seen():
    with hold_in(current_database_url(), "retrain-test"):
        assert locks.is_held("retrain-test")
    assert not locks.is_held("retrain-test")


def test_the_same_lock_held_in_another_database_of_the_server_is_not_ours():
    other = current_database_url().rsplit("/", 1)[0] + "/postgres"
    assert connection.settings_dict["NAME"] != "postgres"
    with hold_in(other, "retrain-test"):
        assert not locks.is_held("retrain-test")
