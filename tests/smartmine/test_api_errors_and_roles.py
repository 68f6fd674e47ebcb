"""The one error shape, authentication, anonymous reads and the role x endpoint matrix."""

import json
import subprocess
import sys

import pytest
from django.test import RequestFactory

from smartmine.platform.api import errors
from tests.apiclients import assert_error, client_for, role_client
from tests.factories import (
    AlertFactory,
    CrusherFactory,
    LoaderFactory,
    SiteFactory,
    StockpileFactory,
    TruckFactory,
)

pytestmark = pytest.mark.django_db

READS = [
    "/api/trucks", "/api/loaders", "/api/crushers", "/api/stockpiles", "/api/sites", "/api/mining/zones",
    "/api/alerts", "/api/mining/kpis", "/api/ml/health-prediction", "/api/ml/recommendations",
    "/api/trucks/{truck}", "/api/trucks/{truck}/readings", "/api/crushers/{crusher}/readings",
    "/api/stockpiles/{stockpile}/readings", "/api/loaders/{loader}", "/api/sites/{site}",
]  # fmt: skip


@pytest.fixture
def units():
    site = SiteFactory()
    return {
        "site": site.pk,
        "truck": TruckFactory(site=site).pk,
        "loader": LoaderFactory(site=site).pk,
        "crusher": CrusherFactory(site=site).pk,
        "stockpile": StockpileFactory(site=site).pk,
        "alert": AlertFactory(equipment=TruckFactory(site=site)).pk,
    }


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("role", ["viewer", "operator", "engineer", "gateway"])
def test_every_signed_in_role_reads_everything(units, role, path):
    assert role_client(role).get(path.format(**units)).status_code == 200


@pytest.mark.parametrize("path", READS)
def test_anonymous_reads_are_refused_unless_the_demo_allows_them(units, settings, path):
    settings.API_ALLOW_ANONYMOUS_READ = False
    response = client_for(None).get(path.format(**units))
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"

    settings.API_ALLOW_ANONYMOUS_READ = True
    assert client_for(None).get(path.format(**units)).status_code == 200


#: (method, path, body, roles allowed): every write endpoint.
WRITES = [
    ("post", "/api/trucks/{truck}/maintenance", None, {"operator", "engineer"}),
    ("post", "/api/loaders/{loader}/maintenance", None, {"operator", "engineer"}),
    ("post", "/api/crushers/{crusher}/maintenance", None, {"operator", "engineer"}),
    ("post", "/api/alerts/{alert}/acknowledge", None, {"operator", "engineer"}),
    ("post", "/api/alerts/{alert}/clear", None, {"operator", "engineer"}),
    ("post", "/api/alerts/acknowledge", {"ids": [1]}, {"operator", "engineer"}),
    ("patch", "/api/stockpiles/{stockpile}", {"reclaim_rate_tph": 100}, {"operator", "engineer"}),
    ("patch", "/api/sites/{site}", {"dispatch_strategy": "fixed"}, {"engineer"}),
    ("post", "/api/telemetry", {"readings": []}, {"gateway"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), WRITES)
@pytest.mark.parametrize("role", ["anonymous", "viewer", "operator", "engineer", "gateway"])
def test_the_write_permission_matrix(units, settings, role, method, path, body, allowed):
    settings.API_ALLOW_ANONYMOUS_READ = True  # never opens writes
    response = getattr(role_client(role), method)(path.format(**units), body, format="json")

    if role in allowed:
        assert response.status_code == 200, response.content
    elif role == "anonymous":
        assert_error(response, 401, "not_authenticated")
    else:
        assert_error(response, 403, "permission_denied")


def test_an_invalid_token_is_a_401():
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert_error(client.get("/api/trucks"), 401, "authentication_failed")


def test_session_login_works_for_the_browser(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())

    assert client.get("/api/trucks").status_code == 200


def test_a_token_is_issued_for_a_username_and_password():
    from tests.factories import UserFactory

    user = UserFactory(username="dispatcher")
    response = client_for(None).post(
        "/api/auth/token",
        {"username": "dispatcher", "password": "correct horse battery staple"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["token"] == user.auth_token.key
    bad = client_for(None).post("/api/auth/token", {"username": "dispatcher", "password": "x"}, format="json")
    assert_error(bad, 400, "invalid")


def test_an_unknown_api_path_is_a_json_404_and_other_paths_stay_html(client):
    assert_error(client.get("/api/no-such-thing"), 404, "not_found")
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_a_server_error_under_api_is_json():
    response = errors.server_error(RequestFactory().get("/api/trucks"))

    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "server_error"
    html = errors.server_error(RequestFactory().get("/admin/"))
    assert html["Content-Type"].startswith("text/html")


def test_health_and_version_stay_open():
    assert client_for(None).get("/api/version").status_code == 200


def test_the_schema_and_swagger_ui_are_served():
    viewer = role_client("viewer")

    assert viewer.get("/api/schema/").status_code == 200
    assert viewer.get("/api/docs/").status_code == 200


@pytest.mark.slow
def test_the_schema_validates_without_warnings():
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr


def test_a_disallowed_host_under_api_is_a_json_400(client):
    response = client.get("/api/trucks", HTTP_HOST="evil.example")

    assert_error(response, 400, "bad_request")
