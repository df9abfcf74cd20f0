"""WSGI entry point for gunicorn (Procfile `web`). Imports no torch and no trainers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiworld.settings")
application = get_wsgi_application()
