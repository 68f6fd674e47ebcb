"""The KPI ledger's save stages its rows by COPY in session tables (analytics.kpis.ledger_store): whatever the
transaction around it, every increment lands once, and nothing staged is left for the next save."""

import datetime as dt

import pytest
from django.db import transaction

from analytics.kpis import ledger_store
from analytics.kpis.ledger import Accumulator
from analytics.kpis.models import KpiLedger, KpiLedgerCursor
from fleet import seeding

HOUR = dt.datetime(2031, 3, 1, 6, 0, tzinfo=dt.UTC).timestamp()


def accumulated(trucks: list[int], *, from_s: float, seconds: int) -> Accumulator:
    accumulator = Accumulator()
    for offset in range(0, seconds + 1, 5):
        for truck in trucks:
            row = {"id": truck, "status": "hauling", "fuel_l": 900.0 - offset}
            accumulator.reading("truck", truck, from_s + offset, row)
    return accumulator


def hauling_s(site_id: int) -> dict[int, float]:
    rows = KpiLedger.objects.filter(site_id=site_id, unit_kind="truck")
    return dict(rows.values_list("unit_id", "hauling_s"))


@pytest.mark.django_db(transaction=True)
def test_a_save_in_autocommit_mode_keeps_every_row():
    site = seeding.seed_site(name="Staged pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site

    ledger_store.save(site.pk, accumulated([1, 2, 3], from_s=HOUR, seconds=60))

    assert hauling_s(site.pk) == {1: 60.0, 2: 60.0, 3: 60.0}
    assert KpiLedgerCursor.objects.filter(site_id=site.pk).count() == 3


@pytest.mark.django_db
def test_two_saves_in_one_transaction_add_each_increment_once():
    site = seeding.seed_site(name="Staged pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site

    with transaction.atomic():
        first = accumulated([1, 2], from_s=HOUR, seconds=30)
        ledger_store.save(site.pk, first)
        second = Accumulator(dict(first.last))
        for truck in (1, 2):
            second.reading("truck", truck, HOUR + 40, {"id": truck, "status": "hauling", "fuel_l": 850.0})
        ledger_store.save(site.pk, second)

    assert hauling_s(site.pk) == {1: 40.0, 2: 40.0}
    assert KpiLedger.objects.get(site_id=site.pk, unit_id=1).readings == 8


@pytest.mark.django_db
def test_a_save_that_rolls_back_leaves_nothing_staged_for_the_next():
    site = seeding.seed_site(name="Staged pit", trucks=3, crushers=1, stockpiles=1, loaders=2).site

    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_store.save(site.pk, accumulated([1], from_s=HOUR, seconds=20))
        raise RuntimeError("the tick failed after the ledger")
    ledger_store.save(site.pk, accumulated([2], from_s=HOUR, seconds=10))

    assert hauling_s(site.pk) == {2: 10.0}
