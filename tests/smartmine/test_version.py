import platform

import django
import pytest

import smartmine


def test_version_reports_project_api_python_and_django_versions(client):
    response = client.get("/api/version")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == smartmine.__version__
    assert body["api_version"] == smartmine.API_VERSION
    assert body["python"] == platform.python_version()
    assert body["django"] == django.get_version()


def test_version_answers_with_and_without_a_trailing_slash(client):
    assert client.get("/api/version/").status_code == 200
    assert client.get("/api/version").status_code == 200


def asgi_get(path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    """One request through the real ASGI application daphne serves."""
    from asgiref.sync import async_to_sync
    from channels.testing import HttpCommunicator

    from smartmine.asgi import application

    headers = [(b"host", b"127.0.0.1"), *headers]
    return async_to_sync(HttpCommunicator(application, "GET", path, headers=headers).get_response)()


def test_version_is_answered_after_the_first_time_with_djangos_bytes_and_headers():
    from smartmine.asgi import application

    first = asgi_get("/api/version")
    second = asgi_get("/api/version", [(b"x-request-id", b"trace-7")])

    assert first["status"] == second["status"] == 200 and first["body"] == second["body"]
    assert "/api/version" in application.application_mapping["http"].cached
    first_headers, second_headers = dict(first["headers"]), dict(second["headers"])
    assert second_headers.pop(b"X-Request-ID") == b"trace-7"
    first_headers.pop(b"X-Request-ID")
    assert first_headers == second_headers  # security headers, content type, length: Django's


@pytest.mark.django_db(transaction=True)  # the token lookup, from the ASGI handler's own thread
def test_version_requests_django_would_answer_differently_still_go_through_django():
    asgi_get("/api/version")  # cached from here on

    assert asgi_get("/api/version", [(b"authorization", b"Token not-a-token")])["status"] == 401
    assert asgi_get("/api/version", [(b"host", b"evil.example")])["status"] == 400
