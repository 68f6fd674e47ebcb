from django.apps import AppConfig


class PlantsConfig(AppConfig):
    """Crushers and the plant equipment they feed."""

    name = "plants"
    verbose_name = "Plants"
