import platform

import django

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
