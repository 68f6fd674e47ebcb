"""The Celery app: broker and result backend on Redis, configuration from Django settings (CELERY_*)."""

import os

from celery import Celery

from smartmine.config import load_config_or_exit

load_config_or_exit()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smartmine.settings")

app = Celery("smartmine")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
