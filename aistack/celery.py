"""The one Celery application shared by every system of the suite."""

import os

from celery import Celery

from apps.core import worker_metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aistack.settings")

app = Celery("aistack")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Workers serve their own application metrics when CELERY_METRICS_PORT is set (apps/core/worker_metrics.py).
worker_metrics.connect()
