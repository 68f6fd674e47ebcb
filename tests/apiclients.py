"""API clients signed in as each role, for the test_api_* files."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.handlers.wsgi import WSGIHandler
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fleet.choices import GATEWAYS_GROUP
from tests.factories import UserFactory, engineer, operator


def client_for(user) -> APIClient:
    """A client sending the user's token, as dashboards and gateways do."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def wsgi_app() -> WSGIHandler:
    """The project's WSGI app for schemathesis, without `get_wsgi_application`'s `django.setup()`: that would
    configure logging again inside the test, with the console handler writing to the test's captured
    stderr, which pytest closes after it ("--- Logging error --- I/O operation on closed file" for every
    later log line from a thread)."""
    return WSGIHandler()


def gateway():
    user = UserFactory(is_staff=False)
    user.groups.add(Group.objects.get(name=GATEWAYS_GROUP))
    return user


ROLES = {
    "anonymous": lambda: None,
    "viewer": lambda: UserFactory(is_staff=False),
    "operator": operator,
    "engineer": engineer,
    "gateway": gateway,
}


def role_client(role: str) -> APIClient:
    return client_for(ROLES[role]())


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape; returns its details."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]["details"]
