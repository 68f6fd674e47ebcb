"""An alarm flood (one fault on every unit at once) is persisted in a few statements, with the same outcome
as one alarm at a time: raised once, updated, cleared, shelving kept, several transitions of one alarm in
order."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics.alerts import alarms, engine
from analytics.alerts.models import AlarmRule, Alert
from tests.analytics.test_alarms import T0, save_step
from tests.factories import TruckFactory

pytestmark = pytest.mark.django_db
FLEET = 120


@pytest.fixture(autouse=True)
def _fresh_engines():
    alarms.forget()
    yield
    alarms.forget()


@pytest.fixture
def fleet():
    first = TruckFactory(name="HT-000")
    return [first] + [TruckFactory(site=first.site, name=f"HT-{n:03d}") for n in range(1, FLEET)]


def steps(site, trucks, status: str, start_s: float, count: int = 3) -> None:
    for i in range(count):
        save_step(site, start_s + 10 * i, [{"id": truck.pk, "status": status} for truck in trucks])


def test_a_breakdown_of_the_whole_fleet_raises_one_alarm_per_truck_in_a_few_statements(
    fleet, django_assert_max_num_queries
):
    site = fleet[0].site
    steps(site, fleet, "broken_down", T0, count=2)
    with django_assert_max_num_queries(20):  # one at a time: four statements per alarm, 480 here
        steps(site, fleet, "broken_down", T0 + 20, count=1)
    raised = Alert.objects.filter(kind="truck_breakdown", cleared_at__isnull=True)
    assert raised.count() == FLEET
    assert {alert.equipment_name for alert in raised} == {truck.name for truck in fleet}
    assert all(alert.annunciated and alert.repeat_count == 1 for alert in raised)

    with django_assert_max_num_queries(20):
        steps(site, fleet, "hauling", T0 + 600, count=1)
    steps(site, fleet, "hauling", T0 + 610, count=30)  # past any off-delay
    assert not Alert.objects.filter(kind="truck_breakdown", cleared_at__isnull=True).exists()
    assert Alert.objects.filter(kind="truck_breakdown").count() == FLEET  # cleared alarms stay in history


def transition(action: str, truck, rule: AlarmRule, clock_s: float) -> engine.Transition:
    return engine.Transition(action, rule.as_engine_rule(), "truck", truck.pk, clock_s, "broken_down")


def test_raised_cleared_and_raised_again_in_one_list_are_applied_in_order(fleet):
    rule = AlarmRule.objects.get(code="truck_breakdown")
    one, other = fleet[0], fleet[1]
    changes = [
        transition("raise", one, rule, T0),
        transition("raise", other, rule, T0),
        transition("clear", one, rule, T0 + 60),
        transition("raise", one, rule, T0 + 120),
    ]

    alarms.apply_transitions(one.site_id, changes, {rule.pk: rule})

    history = list(Alert.objects.filter(equipment_id=one.pk).order_by("raised_at"))
    assert [(a.raised_at.timestamp(), a.cleared_at is None) for a in history] == [
        (T0, False),
        (T0 + 120, True),
    ]
    assert history[0].cleared_at.timestamp() == T0 + 60
    assert Alert.objects.get(equipment_id=other.pk).is_open


def test_an_alarm_raised_in_a_flood_keeps_the_shelving_in_force_and_an_update_counts_a_repeat(fleet):
    rule = AlarmRule.objects.get(code="truck_breakdown")
    shelved, plain = fleet[0], fleet[1]
    alarms.apply_transitions(shelved.site_id, [transition("raise", shelved, rule, T0)], {rule.pk: rule})
    until = timezone.now() + dt.timedelta(hours=1)
    Alert.objects.filter(equipment_id=shelved.pk).update(
        shelved_until=until, shelved_reason="tyre change", cleared_at=timezone.now()
    )

    alarms.apply_transitions(
        shelved.site_id,
        [transition("raise", truck, rule, T0 + 300) for truck in (shelved, plain)],
        {rule.pk: rule},
    )
    alarms.apply_transitions(shelved.site_id, [transition("update", plain, rule, T0 + 400)], {rule.pk: rule})

    again = Alert.objects.get(equipment_id=shelved.pk, cleared_at__isnull=True)
    assert not again.annunciated and again.shelved_until == until and again.shelved_reason == "tyre change"
    updated = Alert.objects.get(equipment_id=plain.pk)
    assert (
        updated.annunciated and updated.repeat_count == 2 and updated.last_raised_at.timestamp() == T0 + 400
    )
