"""ASGI application for the uvicorn test (the metrics test settings)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.metrics.gunicorn_settings")
application = get_asgi_application()
