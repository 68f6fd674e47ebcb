from django.apps import AppConfig


class WiringConfig(AppConfig):
    """The roof as an app: the `runsystem` command, the dashboard's templates and static files, Celery,
    and the discovery of every app's admin module.

    It has no models; "smartmine" is the platform's label (smartmine.platform.apps).
    """

    name = "smartmine"
    label = "wiring"
    verbose_name = "SmartMine wiring"

    def ready(self) -> None:
        from django.contrib import admin

        from smartmine import celery  # noqa: F401 - registers the Celery app

        # Last app installed: every registry the admin pages read (fleet.units, live) is filled by now.
        admin.autodiscover()
