"""The Celery app: Redis from REDIS_URL (settings' CELERY_BROKER_URL), tasks on the `celery` queue.

Run a worker with `python -m celery -A shop worker`.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
