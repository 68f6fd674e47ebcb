from django.apps import AppConfig


class WiringConfig(AppConfig):
    """The roof as an app: the `runsystem` command, the dashboard's templates and static files, Celery.

    It has no models; "smartmine" is the platform's label (smartmine.platform.apps).
    """

    name = "smartmine"
    label = "wiring"
    verbose_name = "SmartMine wiring"

    def ready(self) -> None:
        from smartmine import celery  # noqa: F401 - registers the Celery app
