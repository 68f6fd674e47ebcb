import pytest
from django.contrib.auth.models import Group

from analytics import permissions
from fleet import choices
from tests.factories import engineer, operator

pytestmark = pytest.mark.django_db


def test_the_migration_creates_the_operator_and_engineer_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        choices.OPERATORS_GROUP,
        choices.ENGINEERS_GROUP,
    }


def test_operators_view_everything_acknowledge_alerts_and_change_equipment_status():
    user = operator()

    assert user.has_perms(
        [
            "fleet.view_truck",
            "fleet.view_truckreading",
            "plants.view_crusher",
            "stockpiles.view_stockpilereading",
            "analytics.view_alert",
            permissions.ACKNOWLEDGE_ALERT,
            choices.CHANGE_EQUIPMENT_STATUS,
        ]
    )


def test_operators_cannot_configure_retrain_or_control_the_simulation():
    user = operator()

    for permission in (
        "fleet.change_site",
        "fleet.change_truck",
        permissions.RETRAIN_MODELS,
        permissions.RUN_SCENARIOS,
        choices.CONTROL_SIMULATION,
    ):
        assert not user.has_perm(permission), permission


def test_engineers_have_operator_rights_plus_retraining_scenarios_and_configuration():
    user = engineer()

    assert user.has_perms(
        [
            permissions.ACKNOWLEDGE_ALERT,
            choices.CHANGE_EQUIPMENT_STATUS,
            permissions.RETRAIN_MODELS,
            permissions.RUN_SCENARIOS,
            choices.CONTROL_SIMULATION,
            "fleet.change_site",
            "fleet.change_haulroad",
            "stockpiles.change_stockpile",
            "plants.change_crusher",
        ]
    )


def test_nobody_may_change_reading_history():
    user = engineer()
    assert not user.has_perm("fleet.change_truckreading") and not user.has_perm("fleet.delete_truckreading")
