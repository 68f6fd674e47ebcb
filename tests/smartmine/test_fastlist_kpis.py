"""GET /api/mining/kpis?window=shift before Django (smartmine.platform.fastlist, analytics.kpis.api): the
shift's figures the tick kept, with the view's status, headers and bytes, an ETag and its 304; every other
query, a copy that no longer holds, and what the view refuses are Django's (real PostgreSQL and Redis)."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group

from analytics.kpis import kept
from fleet import seeding, ticking
from fleet.choices import ENGINEERS_GROUP, GATEWAYS_GROUP, OPERATORS_GROUP
from fleet.models import Site
from tests.factories import UserFactory
from tests.smartmine.test_fastlist import (
    assert_same,
    django_answer,
    get,
    left_to_django,
    served_fast,
    token_header,
)

pytestmark = pytest.mark.django_db(transaction=True)

SHIFT = "/api/mining/kpis?window=shift"
START = dt.datetime(2026, 1, 5, 1, 0, 10, tzinfo=dt.UTC)


def tick_into_next_minute(site: Site, *, now: dt.datetime) -> None:
    """One tick that ends 5 s into the next simulated minute: it keeps the shift's figures on commit."""
    seconds = Site.objects.get(pk=site.pk).sim_clock.timestamp() % 60
    ticking.tick_site(site.pk, now=now, dt_s=65.0 - seconds)


@pytest.fixture
def site():
    for group in (OPERATORS_GROUP, ENGINEERS_GROUP, GATEWAYS_GROUP):  # a transactional test flushed them
        Group.objects.get_or_create(name=group)
    site = seeding.seed_site(name="Fast kpi pit", trucks=4, crushers=1, stockpiles=1, loaders=2, seed=3).site
    ticking.tick_site(site.pk, now=START, dt_s=10.0)
    tick_into_next_minute(site, now=START + dt.timedelta(seconds=5))
    site.refresh_from_db()
    assert kept.load(site) is not None
    yield site
    kept.forget([site.pk])


@pytest.fixture
def fast():
    from smartmine.asgi import _fast_lists, django_asgi_app

    return _fast_lists(django_asgi_app)


@pytest.mark.parametrize("query", ["window=shift", "site={id}&window=shift", "window=shift&site={slug}"])
def test_the_kept_shift_gets_the_views_status_headers_and_bytes(site, fast, query):
    headers = token_header(UserFactory())
    path = "/api/mining/kpis?" + query.format(id=site.pk, slug=site.slug)

    answer = served_fast(fast, path, headers)

    assert answer["status"] == 200 and b"ETag" in dict(answer["headers"])
    assert_same(answer, django_answer(path, headers))


def test_a_matching_etag_gets_the_views_304(site, fast):
    headers = token_header(UserFactory())
    etag = dict(get(fast, SHIFT, headers)["headers"])[b"ETag"]
    headers = [*headers, (b"if-none-match", etag)]

    answer = served_fast(fast, SHIFT, headers)

    assert answer["status"] == 304 and answer["body"] == b""
    assert_same(answer, django_answer(SHIFT, headers))


def test_the_next_minute_changes_the_etag_and_the_figures(site, fast):
    headers = token_header(UserFactory())
    before = served_fast(fast, SHIFT, headers)

    tick_into_next_minute(site, now=START + dt.timedelta(seconds=70))
    after = get(fast, SHIFT, headers)

    assert dict(after["headers"])[b"ETag"] != dict(before["headers"])[b"ETag"]
    assert after["body"] != before["body"]
    assert_same(after, django_answer(SHIFT, headers))


def test_a_copy_that_no_longer_holds_is_computed_by_django(site, fast):
    headers = token_header(UserFactory())
    served_fast(fast, SHIFT, headers)
    ticking.tick_site(site.pk, now=START + dt.timedelta(seconds=8), dt_s=60.0)  # to the next minute...
    kept.forget([site.pk])  # ...and its copy gone (Redis restarted), as after telemetry changed the ledgers
    served = fast.served

    answer = get(fast, SHIFT, headers)

    assert fast.served == served
    assert answer["status"] == 200 and b"ETag" not in dict(answer["headers"])
    assert_same(answer, django_answer(SHIFT, headers))


@pytest.mark.parametrize(
    "query",
    [
        "window=24h",
        "window=shift&window=shift",
        "window=shift&limit=1",
        "site=no-such-pit&window=shift",
        "site=&window=shift",
        "site=0&window=shift",
        "window=shift&from=2026-01-05T00:00:00Z",
        "window=shi%66t&x",
    ],
)
def test_other_queries_are_djangos(site, fast, query):
    left_to_django(fast, f"/api/mining/kpis?{query}", token_header(UserFactory()))


def test_anonymous_gets_djangos_401(site, fast):
    assert left_to_django(fast, SHIFT)["status"] == 401
