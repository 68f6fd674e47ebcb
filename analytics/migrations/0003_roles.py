"""The Operators and Engineers groups and their permissions (names in fleet.choices).

Operators see everything, acknowledge and clear alerts, and send equipment to maintenance and back.
Engineers can also pause/resume simulation, retrain models, run scenarios and change configuration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

DOMAIN_APPS = ("fleet", "plants", "stockpiles", "analytics")
OPERATOR_EXTRA = [("analytics", "acknowledge_alert"), ("fleet", "change_equipment_status")]
ENGINEER_EXTRA = [
    ("fleet", "control_simulation"),
    ("analytics", "retrain_models"),
    ("analytics", "run_scenarios"),
]
#: Configuration models engineers may add and change (reading history stays read-only for everyone).
CONFIG_MODELS = [
    ("fleet", "site"),
    ("fleet", "miningzone"),
    ("fleet", "loader"),
    ("fleet", "haulroad"),
    ("fleet", "wastedump"),
    ("fleet", "truck"),
    ("plants", "crusher"),
    ("stockpiles", "material"),
    ("stockpiles", "stockpile"),
]


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now to use them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permission(app_label, codename):
        return Permission.objects.get(content_type__app_label=app_label, codename=codename)

    viewing = list(Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS, codename__startswith="view_"))
    operators = viewing + [permission(*item) for item in OPERATOR_EXTRA]
    engineers = operators + [permission(*item) for item in ENGINEER_EXTRA]
    for app_label, model in CONFIG_MODELS:
        engineers += [permission(app_label, f"{action}_{model}") for action in ("add", "change")]
    for name, perms in (("Operators", operators), ("Engineers", engineers)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*perms)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Operators", "Engineers"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0002_initial"),
        ("fleet", "0003_history"),
        ("plants", "0002_history"),
        ("stockpiles", "0002_history"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
