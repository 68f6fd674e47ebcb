"""Beat schedule for history maintenance: partitions hourly, rollups every minute."""

from django.db import migrations

TASKS = [
    # (name, task, every, period, expires_s)
    ("Maintain reading partitions", "fleet.tasks.maintain_partitions_task", 1, "hours", 3000),
    ("Roll up readings per minute", "fleet.tasks.rollup_readings_task", 1, "minutes", 50),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, period, expires_s in TASKS:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=period)
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": interval, "expire_seconds": expires_s, "enabled": True}
        )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[name for name, *_ in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0003_history"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
