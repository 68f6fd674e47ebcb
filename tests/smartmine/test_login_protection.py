"""Repeated wrong passwords lock a username out (django-axes), in the admin and on the API token endpoint."""

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    return User.objects.create_user("operator", password="right-horse-battery", is_staff=True)


def admin_login(client, password: str):
    return client.post("/admin/login/?next=/admin/", {"username": "operator", "password": password})


def test_five_wrong_admin_passwords_lock_the_account_even_for_the_right_one(client, operator):
    for _ in range(4):
        assert admin_login(client, "guess").status_code == 200  # the form again, with an error
    assert admin_login(client, "guess").status_code == 429  # the fifth failure locks
    locked = admin_login(client, "right-horse-battery")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_correct_password_before_the_limit_logs_in_and_resets_the_count(client, operator):
    for _ in range(4):
        admin_login(client, "guess")
    assert admin_login(client, "right-horse-battery").status_code == 302
    client.logout()
    for _ in range(4):
        admin_login(client, "guess")
    assert admin_login(client, "right-horse-battery").status_code == 302


def test_the_api_token_endpoint_is_protected_too(api_client, operator, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "100/min"}}
    for _ in range(5):
        assert (
            api_client.post(
                "/api/auth/token", {"username": "operator", "password": "x"}, format="json"
            ).status_code
            == 400
        )
    locked = api_client.post(
        "/api/auth/token", {"username": "operator", "password": "right-horse-battery"}, format="json"
    )
    # Locked out: even the right password gets no token (DRF reports the refused login as invalid input).
    assert locked.status_code in {400, 403, 429} and "token" not in locked.json()
    assert "error" in locked.json()
