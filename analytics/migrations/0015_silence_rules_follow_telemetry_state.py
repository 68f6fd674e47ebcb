"""The seeded telemetry-silence rules follow the twin's telemetry state: raised when a live unit turns stale
(TELEMETRY_STALE_AFTER_S, fleet/liveness.py) rather than at their own 120 s limit, so the alarm and the
stale badge start and end together. Rules an installation has tuned (another field, comparison or limit)
are left as they are.
"""

from django.db import migrations, models

SILENCE_CODES = ("truck_silent", "crusher_silent", "stockpile_silent")
SEEDED = {"field": "silence_s", "comparison": ">=", "limit": 120, "states": ""}
FOLLOWING = {"field": "telemetry", "comparison": "in", "limit": None, "states": "stale"}


def follow_telemetry_state(apps, schema_editor):
    from analytics.alerts.defaults import DEFAULT_RULES

    AlarmRule = apps.get_model("analytics", "AlarmRule")
    texts = {
        spec["code"]: {"explanation": spec["explanation"], "operator_action": spec["operator_action"]}
        for spec in DEFAULT_RULES
        if spec["code"] in SILENCE_CODES
    }
    for code in SILENCE_CODES:
        AlarmRule.objects.filter(code=code, **SEEDED).update(**FOLLOWING, **texts.get(code, {}))


def back_to_silence_seconds(apps, schema_editor):
    AlarmRule = apps.get_model("analytics", "AlarmRule")
    AlarmRule.objects.filter(code__in=SILENCE_CODES, **FOLLOWING).update(**SEEDED)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0014_dispatch_lookahead")]

    operations = [
        migrations.AlterField(
            model_name="alarmrule",
            name="field",
            field=models.CharField(
                help_text="a sensor (engine_temp_c, utilisation_pct, fuel_pct...), status, queue_length, "
                "silence_s or telemetry (a live unit's state: live or stale)",
                max_length=40,
            ),
        ),
        migrations.RunPython(follow_telemetry_state, back_to_silence_seconds),
    ]
