"""The OpenAPI schema follows the configuration: with API_ALLOW_ANONYMOUS_READ on, reads say anyone may call
them (the empty requirement `{}`); with it off they do not; writes never do."""

import pytest

from tests.apiclients import role_client

pytestmark = pytest.mark.django_db

SCHEMES = [{"tokenAuth": []}, {"cookieAuth": []}]
READS = [("/api/trucks", "get"), ("/api/trucks/{id}", "get"), ("/api/alerts", "get")]
WRITES = [("/api/telemetry", "post"), ("/api/sites/{id}", "patch"), ("/api/alerts/{id}/acknowledge", "post")]


def security(path: str, method: str) -> list[dict]:
    schema = role_client("viewer").get("/api/schema/?format=json").json()
    return schema["paths"][path][method].get("security", [])


def securities(operations) -> dict:
    schema = role_client("viewer").get("/api/schema/?format=json").json()
    return {(path, method): schema["paths"][path][method]["security"] for path, method in operations}


def test_with_anonymous_reads_on_reads_list_the_empty_requirement_and_writes_do_not(settings):
    settings.API_ALLOW_ANONYMOUS_READ = True

    found = securities(READS + WRITES)

    assert all(found[operation] == [*SCHEMES, {}] for operation in READS), found
    assert all(found[operation] == SCHEMES for operation in WRITES), found


def test_with_anonymous_reads_off_no_operation_but_the_open_ones_lists_it(settings):
    settings.API_ALLOW_ANONYMOUS_READ = False

    found = securities(READS + WRITES)

    assert all(requirements == SCHEMES for requirements in found.values()), found


@pytest.mark.parametrize("anonymous_read", [True, False])
def test_open_endpoints_list_the_empty_requirement_once_either_way(settings, anonymous_read):
    settings.API_ALLOW_ANONYMOUS_READ = anonymous_read

    assert security("/api/health", "get") == [*SCHEMES, {}]
    assert {} not in security("/api/auth/token", "post")
