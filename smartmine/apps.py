from django.apps import AppConfig


class SmartMineConfig(AppConfig):
    """The project package as an app: it owns the platform commands, templates and the Celery wiring."""

    name = "smartmine"
    verbose_name = "SmartMine platform"

    def ready(self) -> None:
        from smartmine import celery, logs, metrics  # noqa: F401 - registers the Celery app and its log signals

        metrics.connect_celery_signals()
