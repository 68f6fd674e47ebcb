"""Engineers change the beat schedule (tick intervals, retraining time) in admin, as docs/operations.md says;
Operators and Engineers read the audit log of who did what."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ENGINEER_ONLY = {
    "django_celery_beat": [
        "view_periodictask", "change_periodictask",
        "view_intervalschedule", "add_intervalschedule",
        "view_crontabschedule", "add_crontabschedule",
    ],
}  # fmt: skip
CONTROL_ROOM = {"smartmine": ["view_auditentry"]}


def _permissions(apps, wanted: dict[str, list[str]]) -> list:
    Permission = apps.get_model("auth", "Permission")
    found = []
    for app_label, codenames in wanted.items():
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
        found += Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    return found


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    engineers, control_room = _permissions(apps, ENGINEER_ONLY), _permissions(apps, CONTROL_ROOM)
    for group in Group.objects.filter(name="Engineers"):
        group.permissions.add(*engineers, *control_room)
    for group in Group.objects.filter(name="Operators"):
        group.permissions.add(*control_room)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    engineers, control_room = _permissions(apps, ENGINEER_ONLY), _permissions(apps, CONTROL_ROOM)
    for group in Group.objects.filter(name__in=["Engineers", "Operators"]):
        group.permissions.remove(*engineers, *control_room)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_ml_beat_and_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("smartmine", "0002_audit_append_only"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
