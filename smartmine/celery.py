"""The Celery app: broker and result backend on Redis, configuration from Django settings (CELERY_*)."""

import os

from celery import Celery
from celery.signals import worker_process_init

from smartmine.config import load_config_or_exit

load_config_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

app = Celery("smartmine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect(weak=False)
def _freeze_startup_heap(**_: object) -> None:
    """Each pool process, once started: a full collection then skips what it loaded (platform.heap)."""
    from smartmine.platform.heap import freeze_startup_heap

    freeze_startup_heap()
