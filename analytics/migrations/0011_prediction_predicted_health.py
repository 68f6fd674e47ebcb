"""The prediction's health is the model's figure: named `predicted_health`, apart from a unit's own `health`
(the engine's condition index on its row)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0010_default_alarm_rules"),
    ]

    operations = [
        migrations.RenameField(model_name="prediction", old_name="health", new_name="predicted_health"),
        migrations.AlterField(
            model_name="prediction",
            name="predicted_health",
            field=models.FloatField(
                help_text="the model's, from failure probability and RUL; a unit's own `health` is the engine's",
                verbose_name="predicted health (0-100)",
            ),
        ),
    ]
