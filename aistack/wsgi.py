"""WSGI entry point (gunicorn aistack.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aistack.settings")

application = get_wsgi_application()
