"""The Gateways group: token users of equipment gateways that post telemetry (fleet.ingest_telemetry)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GATEWAYS = "Gateways"


def create_gateways(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now to use them.
    app_config = apps.get_app_config("fleet")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ingest = Permission.objects.get(content_type__app_label="fleet", codename="ingest_telemetry")
    group, _ = Group.objects.get_or_create(name=GATEWAYS)
    group.permissions.add(ingest)


def remove_gateways(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GATEWAYS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0006_site_dispatch_state"),
        ("analytics", "0003_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="truck",
            options={
                "ordering": ["site", "name"],
                "permissions": [
                    ("change_equipment_status", "Can send equipment to maintenance and back to service"),
                    ("ingest_telemetry", "Can post equipment telemetry (gateways)"),
                ],
            },
        ),
        migrations.RunPython(create_gateways, remove_gateways),
    ]
