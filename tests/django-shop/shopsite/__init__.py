"""The Django project of the test shop (settings, URLs, WSGI).

The Celery app is imported here, as Django's Celery guide does, so that `.delay()` in a view
uses its broker settings and not Celery's defaults.
"""
from shop.celery import app as celery_app

__all__ = ("celery_app",)
