"""aiworld: the AI back end for rAthena map servers (Django project + Celery farm)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
