"""What-if scenarios (analytics.scenario_models.Scenario); Operators and Engineers may view them.

Written by hand with only the Scenario model, so the ML models in analytics/models.py get their own migration.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

ROLES = ("Operators", "Engineers")


def grant_view(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create them now to use them.
    app_config = apps.get_app_config("analytics")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.get(content_type__app_label="analytics", codename="view_scenario")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.add(view)


def revoke_view(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="analytics", codename="view_scenario").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0003_roles"),
        ("fleet", "0003_history"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Scenario',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(blank=True, help_text='what the engineer wants to find out', max_length=200)),
                ('kind', models.CharField(choices=[('what_if', 'What-if'), ('fleet_sizing', 'Fleet sizing')], default='what_if', max_length=16)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('cancelled', 'Cancelled'), ('failed', 'Failed')], db_index=True, default='queued', max_length=16)),
                ('progress_pct', models.PositiveSmallIntegerField(default=0, verbose_name='progress (%)')),
                ('cancel_requested', models.BooleanField(default=False, help_text='set by a cancel; the running task stops at its next check')),
                ('error', models.TextField(blank=True, help_text='why it failed (or was stopped)')),
                ('request', models.JSONField(default=dict, help_text='the validated changes, shift and seeds')),
                ('results', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('site', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='scenarios', to='fleet.site')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RunPython(grant_view, revoke_view),
    ]
