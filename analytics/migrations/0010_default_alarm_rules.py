"""Seed the default alarm rules (analytics.alerts.defaults); operators and engineers change them in admin.

Existing rules (same code) are left as they are, so re-running on an installation keeps its tuning.
"""

from django.db import migrations


def seed_rules(apps, schema_editor):
    from analytics.alerts.defaults import DEFAULT_RULES

    AlarmRule = apps.get_model("analytics", "AlarmRule")
    for spec in DEFAULT_RULES:
        AlarmRule.objects.get_or_create(
            code=spec["code"], defaults={k: v for k, v in spec.items() if k != "code"}
        )


def unseed_rules(apps, schema_editor):
    from analytics.alerts.defaults import DEFAULT_RULES

    apps.get_model("analytics", "AlarmRule").objects.filter(
        code__in=[s["code"] for s in DEFAULT_RULES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0009_alarm_rules")]

    operations = [migrations.RunPython(seed_rules, unseed_rules)]
