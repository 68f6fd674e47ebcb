"""`make run`'s demo logins: one per role, so the demo shows what an operator, an engineer and the
superuser may each do."""

import io

import pytest
from django.contrib.auth import get_user_model

from analytics import permissions
from smartmine.management.commands import runsystem

pytestmark = pytest.mark.django_db


@pytest.fixture
def command(tmp_path, monkeypatch):
    monkeypatch.setattr(runsystem, "DEMO_LOGINS_FILE", tmp_path / "demo-logins")
    command = runsystem.Command(stdout=io.StringIO())
    command.printed = command.stdout._out  # the StringIO given above
    return command


def test_each_role_gets_a_login_that_can_do_what_the_role_may(command):
    logins = command.ensure_demo_logins()

    users = {user.username: user for user in get_user_model().objects.filter(username__in=logins)}
    assert set(logins) == {"operator", "engineer", "admin"}
    engineer, operator = users["engineer"], users["operator"]
    assert engineer.check_password(logins["engineer"]) and not engineer.is_superuser
    assert engineer.has_perm(permissions.RETRAIN_MODELS) and engineer.has_perm(permissions.RUN_SCENARIOS)
    assert not operator.has_perm(permissions.RETRAIN_MODELS)
    assert operator.has_perm(permissions.ACKNOWLEDGE_ALERT)
    assert users["admin"].is_superuser


def test_the_passwords_stay_the_same_across_runs_and_the_banner_prints_every_login(command):
    first = command.ensure_demo_logins()
    again = command.ensure_demo_logins()
    command.print_banner(again)

    assert again == first
    banner = command.printed.getvalue()
    for name, password in first.items():
        assert f"{name:<9} {password}" in banner
    assert "scenarios, dispatch strategy, retraining" in banner
