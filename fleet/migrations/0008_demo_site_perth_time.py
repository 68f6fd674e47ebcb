"""The demo site keeps its shifts on Perth time: seeded sites lie in the Pilbara (seeding.SITE_TIMEZONE).

Only sites with the demo's name still on the old default, UTC, move; a zone an operator chose stays.
"""

from django.db import migrations

#: Copied, not imported: a migration must not change when the code it was written against does.
DEMO_SITE_NAME = "Pilbara demo pit"
OLD_DEFAULT_TIMEZONE = "UTC"
DEMO_TIMEZONE = "Australia/Perth"


def demo_site_to_perth(apps, schema_editor):
    Site = apps.get_model("fleet", "Site")
    Site.objects.filter(name=DEMO_SITE_NAME, timezone=OLD_DEFAULT_TIMEZONE).update(timezone=DEMO_TIMEZONE)


class Migration(migrations.Migration):
    dependencies = [("fleet", "0007_gateways")]

    # Not reversed: after the move, Perth may be an operator's choice as much as the migration's.
    operations = [migrations.RunPython(demo_site_to_perth, migrations.RunPython.noop)]
