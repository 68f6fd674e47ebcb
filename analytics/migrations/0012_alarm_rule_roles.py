"""Alarm rules are managed in admin by the control room: Operators and Engineers view and tune them (limits,
delays, enabled), Engineers also add them. A rule is switched off, not deleted (its alarms' history points
to it): deleting stays with superusers (docs/alarms.md)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

BOTH = ["view_alarmrule", "change_alarmrule"]
ENGINEERS = ["add_alarmrule"]


def _permissions(apps, codenames: list[str]) -> list:
    Permission = apps.get_model("auth", "Permission")
    app_config = apps.get_app_config("analytics")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    return list(Permission.objects.filter(content_type__app_label="analytics", codename__in=codenames))


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    both, engineers = _permissions(apps, BOTH), _permissions(apps, ENGINEERS)
    for group in Group.objects.filter(name="Engineers"):
        group.permissions.add(*both, *engineers)
    for group in Group.objects.filter(name="Operators"):
        group.permissions.add(*both)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    permissions = _permissions(apps, BOTH + ENGINEERS)
    for group in Group.objects.filter(name__in=["Engineers", "Operators"]):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0011_prediction_predicted_health")]

    operations = [migrations.RunPython(grant, revoke)]
