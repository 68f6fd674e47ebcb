"""GET /api/trucks before Django (smartmine.platform.fastlist): through the ASGI app daphne serves, the same
status, headers and bytes as the DRF view for every caller, and Django's own answer for whatever it does not
serve (real PostgreSQL and Redis)."""

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.authtoken.models import Token

from fleet import seeding, ticking
from fleet.choices import ENGINEERS_GROUP, GATEWAYS_GROUP, OPERATORS_GROUP
from smartmine.platform import readmodel
from tests.apiclients import ROLES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROLE_NAMES = [role for role in ROLES if role != "anonymous"]


@pytest.fixture
def site():
    for group in (OPERATORS_GROUP, ENGINEERS_GROUP, GATEWAYS_GROUP):  # a transactional test flushed them
        Group.objects.get_or_create(name=group)
    site = seeding.seed_site(name="Fast list pit", trucks=5, crushers=1, stockpiles=1, loaders=2).site
    readmodel.mark_wanted([site.pk])
    ticking.tick_site(site.pk, dt_s=60)  # stores the read model
    yield site
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{settings.REDIS_PREFIX}readmodel.*"):
        client.delete(key)


@pytest.fixture
def fast():
    """A fresh fast path over Django's ASGI app, as smartmine.asgi builds it (nothing kept between tests)."""
    from smartmine.asgi import _fast_lists, django_asgi_app

    return _fast_lists(django_asgi_app)


def get(app, path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    headers = [(b"host", b"127.0.0.1"), (b"x-request-id", b"trace-19"), *headers]
    return async_to_sync(HttpCommunicator(app, "GET", path, headers=headers).get_response)()


def django_answer(path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    from smartmine.asgi import django_asgi_app

    return get(django_asgi_app, path, headers)


def assert_same(fast_answer: dict, django: dict) -> None:
    assert fast_answer["status"] == django["status"]
    assert sorted(fast_answer["headers"]) == sorted(django["headers"])
    assert fast_answer["body"] == django["body"]


def served_fast(fast, path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    """The second request of a kind (the first one teaches the headers), checked to skip Django."""
    get(fast, path, headers)
    served = fast.served
    answer = get(fast, path, headers)
    assert fast.served == served + 1, "answered by Django"
    return answer


def left_to_django(fast, path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    """Asked twice (a first answer teaches nothing that would serve the second), answered by Django both
    times, with Django's status, headers and bytes."""
    served = fast.served
    for _ in range(2):
        answer = get(fast, path, headers)
    assert fast.served == served, "answered before Django"
    assert_same(answer, django_answer(path, headers))
    return answer


def token_header(user) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Token {Token.objects.get_or_create(user=user)[0].key}".encode())]


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_with_a_token_gets_the_views_status_headers_and_bytes(site, fast, role):
    headers = token_header(ROLES[role]())

    answer = served_fast(fast, "/api/trucks", headers)

    assert answer["status"] == 200 and dict(answer["headers"])[b"ETag"]
    assert_same(answer, django_answer("/api/trucks", headers))


def test_a_session_cookie_gets_the_views_answer(site, fast):
    browser = Client()
    browser.force_login(UserFactory(is_staff=False))
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"cookie", cookie.encode())]

    answer = served_fast(fast, "/api/trucks/", headers)

    assert answer["status"] == 200
    assert_same(answer, django_answer("/api/trucks/", headers))


def test_an_allowed_cors_origin_gets_the_views_cors_headers(site, fast):
    headers = [*token_header(UserFactory()), (b"origin", settings.CORS_ALLOWED_ORIGINS[0].encode())]

    answer = served_fast(fast, "/api/trucks", headers)

    origin = settings.CORS_ALLOWED_ORIGINS[0].encode()
    assert dict(answer["headers"])[b"access-control-allow-origin"] == origin
    assert_same(answer, django_answer("/api/trucks", headers))


def test_a_matching_etag_gets_the_views_304(site, fast):
    headers = token_header(UserFactory())
    etag = dict(get(fast, "/api/trucks", headers)["headers"])[b"ETag"]
    headers.append((b"if-none-match", etag))

    answer = served_fast(fast, "/api/trucks", headers)

    assert answer["status"] == 304 and answer["body"] == b""
    assert_same(answer, django_answer("/api/trucks", headers))


def test_the_next_tick_changes_the_etag_and_the_bytes_at_once(site, fast):
    headers = token_header(UserFactory())
    before = served_fast(fast, "/api/trucks", headers)

    ticking.tick_site(site.pk, dt_s=60)
    after = get(fast, "/api/trucks", headers)

    assert dict(after["headers"])[b"ETag"] != dict(before["headers"])[b"ETag"]
    assert_same(after, django_answer("/api/trucks", headers))


def test_anonymous_and_a_bad_token_get_djangos_401(site, fast):
    for headers in ([], [(b"authorization", b"Token not-a-token")]):
        get(fast, "/api/trucks", headers)
        served = fast.served
        answer = get(fast, "/api/trucks", headers)

        assert answer["status"] == 401 and fast.served == served
        assert dict(answer["headers"])[b"WWW-Authenticate"] == b"Token"
        assert_same(answer, django_answer("/api/trucks", headers))


def test_anonymous_reads_are_served_when_the_demo_allows_them(site, fast, settings):
    settings.API_ALLOW_ANONYMOUS_READ = True

    answer = served_fast(fast, "/api/trucks")

    assert answer["status"] == 200
    assert_same(answer, django_answer("/api/trucks"))


@pytest.mark.parametrize("query", ["status=hauling", "limit=2", "site=1", "format=json"])
def test_a_query_goes_to_django_unchanged(site, fast, query):
    left_to_django(fast, f"/api/trucks?{query}", token_header(UserFactory()))


def test_an_html_accept_header_goes_to_django(site, fast):
    left_to_django(fast, "/api/trucks", [*token_header(UserFactory()), (b"accept", b"text/html")])


def test_a_stale_read_model_goes_to_django_and_its_database_path(site, fast):
    headers = token_header(UserFactory())
    served_fast(fast, "/api/trucks", headers)
    readmodel.invalidate([site.pk])  # a write outside the tick
    served = fast.served

    answer = get(fast, "/api/trucks", headers)

    assert fast.served == served and answer["status"] == 200 and b"ETag" not in dict(answer["headers"])


def test_a_deleted_token_still_reads_for_the_documented_delay_then_gets_401(site, fast):
    from smartmine.platform.fastlist import AUTH_TTL_S

    now = [1000.0]
    fast.clock = lambda: now[0]
    user = UserFactory()
    headers = token_header(user)
    served_fast(fast, "/api/trucks", headers)

    Token.objects.filter(user=user).delete()
    now[0] += AUTH_TTL_S - 0.5
    within = get(fast, "/api/trucks", headers)
    now[0] += 1.0
    after = get(fast, "/api/trucks", headers)

    assert within["status"] == 200
    assert after["status"] == 401


def test_a_deactivated_users_session_stops_reading_after_the_delay(site, fast):
    from smartmine.platform.fastlist import AUTH_TTL_S

    now = [1000.0]
    fast.clock = lambda: now[0]
    user = UserFactory(is_staff=False)
    browser = Client()
    browser.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    headers = [(b"cookie", cookie.encode())]
    served_fast(fast, "/api/trucks", headers)

    user.is_active = False
    user.save()
    now[0] += AUTH_TTL_S + 0.5

    assert get(fast, "/api/trucks", headers)["status"] in (401, 403)
    assert_same(get(fast, "/api/trucks", headers), django_answer("/api/trucks", headers))
