"""The peerlink Django project package (settings, ASGI and Celery entry points, URLs)."""

from peerlink.celery import app as celery_app

__all__ = ["celery_app"]
