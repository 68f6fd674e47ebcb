import pytest
from django.db import IntegrityError

from analytics.alerts.models import Alert
from analytics.alerts.services import acknowledge_alerts, clear_alerts, raise_alert
from tests.factories import AlertFactory, CrusherFactory, TruckFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_raising_an_alert_opens_it_on_the_equipment():
    truck = TruckFactory(name="HT-04")

    alert, created = raise_alert(equipment=truck, kind="low_fuel", message="Fuel 8 %", severity="critical")

    assert created and alert.equipment == truck and alert.site == truck.site
    assert (alert.equipment_name, alert.severity, alert.repeat_count, alert.is_open) == (
        "HT-04",
        "critical",
        1,
        True,
    )


def test_raising_the_same_alert_again_updates_it_instead_of_flooding():
    crusher = CrusherFactory()
    first, _ = raise_alert(equipment=crusher, kind="high_vibration", message="9 mm/s")

    again, created = raise_alert(
        equipment=crusher, kind="high_vibration", message="12 mm/s", severity="critical"
    )

    assert not created and again.pk == first.pk
    assert (again.message, again.severity, again.repeat_count) == ("12 mm/s", "critical", 2)
    assert Alert.objects.count() == 1


def test_another_kind_on_the_same_equipment_is_a_separate_alert():
    truck = TruckFactory()
    raise_alert(equipment=truck, kind="low_fuel", message="low")
    raise_alert(equipment=truck, kind="engine_overheat", message="hot")
    assert Alert.objects.count() == 2


def test_after_clearing_the_next_occurrence_opens_a_new_alert():
    truck = TruckFactory()
    first, _ = raise_alert(equipment=truck, kind="low_fuel", message="low")
    clear_alerts(alerts=[first], user=UserFactory())

    second, created = raise_alert(equipment=truck, kind="low_fuel", message="low again")

    assert created and second.pk != first.pk


def test_the_database_refuses_two_open_alerts_of_one_kind():
    alert = AlertFactory()
    with pytest.raises(IntegrityError):
        AlertFactory(equipment=alert.equipment, kind=alert.kind)


def test_acknowledging_records_who_and_when_once():
    alert = AlertFactory()
    first_user, second_user = UserFactory(), UserFactory()

    assert acknowledge_alerts(alerts=[alert], user=first_user) == 1
    assert acknowledge_alerts(alerts=[alert], user=second_user) == 0

    alert.refresh_from_db()
    assert alert.acknowledged_by == first_user and alert.acknowledged_at is not None and alert.is_open


def test_clearing_closes_and_acknowledges_the_alert():
    alert = AlertFactory()
    user = UserFactory()

    assert clear_alerts(alerts=[alert], user=user) == 1

    alert.refresh_from_db()
    assert alert.cleared_by == user and alert.acknowledged_by == user and not alert.is_open
