"""The web process's pooled connections go back to the pool as each response is built."""

import pytest
from django.db import connection


@pytest.mark.django_db(transaction=True)
def test_a_request_hands_its_connection_back_in_its_own_thread(client, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    connection.ensure_connection()

    response = client.get("/api/trucks")

    assert response.status_code == 200
    assert connection.connection is None  # returned: the test client itself never sends request_finished


@pytest.mark.django_db
def test_a_connection_inside_a_transaction_is_left_alone(client, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True
    connection.ensure_connection()

    client.get("/api/trucks")

    assert connection.connection is not None and connection.in_atomic_block
