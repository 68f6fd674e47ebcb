"""ML beat schedule (refresh every minute, retrain daily at 03:00, both editable in admin) and role rights:
Operators and Engineers view the ML records and decide recommendations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

REFRESH = ("Refresh ML predictions of active sites", "analytics.tasks.refresh_active_sites_task")
RETRAIN = ("Retrain ML models", "analytics.tasks.retrain_models_task")
ROLES = ("Operators", "Engineers")
VIEW = ["view_modelversion", "view_prediction", "view_anomaly", "view_recommendation", "decide_recommendation"]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=REFRESH[0],
        defaults={"task": REFRESH[1], "interval": every_minute, "expire_seconds": 50, "enabled": True},
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=RETRAIN[0],
        defaults={"task": RETRAIN[1], "crontab": nightly, "expire_seconds": 3600, "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[REFRESH[0], RETRAIN[0]]).delete()


def grant(apps, schema_editor):
    app_config = apps.get_app_config("analytics")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    perms = list(Permission.objects.filter(content_type__app_label="analytics", codename__in=VIEW))
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0005_ml_registry_predictions_recommendations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(create_schedule, remove_schedule),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
