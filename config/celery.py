"""Celery application.

The embedded default runs tasks in-process (``CELERY_TASK_ALWAYS_EAGER``); at scale the same tasks go to
workers over Redis or RabbitMQ by setting ``CELERY_BROKER_URL`` and ``CELERY_TASK_ALWAYS_EAGER=false``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("medbroker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
