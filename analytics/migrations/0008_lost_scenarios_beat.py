"""Beat entry of the sweep that marks failed the running scenarios whose worker was lost (every minute)."""

from django.db import migrations

SWEEP = ("Fail scenarios whose worker was lost", "analytics.tasks.fail_lost_scenarios_task")


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=SWEEP[0],
        defaults={"task": SWEEP[1], "interval": every_minute, "expire_seconds": 50, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=SWEEP[0]).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics", "0007_engineer_schedules_and_audit_reading")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
