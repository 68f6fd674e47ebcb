import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from fleet import selectors
from fleet.models import Truck
from tests.factories import SiteFactory, TruckFactory

pytestmark = pytest.mark.django_db


def test_there_is_no_tick_age_without_a_site():
    assert selectors.last_tick_age_s() is None


def test_there_is_no_tick_age_before_the_first_tick():
    SiteFactory()
    assert selectors.last_tick_age_s() is None


def test_the_tick_age_is_from_the_newest_running_site():
    now = timezone.now()
    SiteFactory(last_tick_at=now - dt.timedelta(seconds=30))
    SiteFactory(last_tick_at=now - dt.timedelta(seconds=8))
    SiteFactory(last_tick_at=now - dt.timedelta(seconds=1), paused=True)

    assert 8 <= selectors.last_tick_age_s() < 10


def test_the_estimated_count_comes_from_the_planner():
    pit, other_pit = SiteFactory(), SiteFactory()
    TruckFactory.create_batch(3, site=pit)
    TruckFactory.create_batch(2, site=other_pit)
    with connection.cursor() as cursor:  # fresh statistics: on a table this small the planner is then exact
        cursor.execute(f'ANALYZE "{Truck._meta.db_table}"')

    assert selectors.estimated_count(Truck.objects.all()) == 5
    assert selectors.estimated_count(Truck.objects.filter(site=pit)) == 3
