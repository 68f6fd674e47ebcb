from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """The floor as an app: the audit log's model, its admin and the platform's signal hooks.

    Its label stays "smartmine" (the app that first held the audit log), so the table, migrations, content
    types and permissions are the same rows as before the floor moved into its own package.
    """

    name = "smartmine.platform"
    label = "smartmine"
    verbose_name = "SmartMine platform"

    def ready(self) -> None:
        from smartmine.platform import logs, metrics  # noqa: F401 - logs connects its Celery signals on import

        metrics.connect_celery_signals()
