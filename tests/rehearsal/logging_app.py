"""A minimal project for the logging scenarios (``test_8_logging``): settings,
URLs and the WSGI/ASGI applications in one module.

The servers run it with ``DJANGO_SETTINGS_MODULE=tests.rehearsal.logging_app``
and ``tests.rehearsal.logging_app:application`` (WSGI) or ``:asgi_application``.
No database and no Redis: what is measured is the log, so the views cost
next to nothing and the servers spend their time on the request and its
line.  ``REHEARSAL_LOG_DIR`` set: ``rotating_file_logging()`` into it, at
``REHEARSAL_LOG_MAX_BYTES`` with ``REHEARSAL_LOG_BACKUPS``; unset:
``json_logging()`` on stdout.
"""

from __future__ import annotations

import os
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path

from opskit.logs import json_logging, rotating_file_logging

SECRET_KEY = "opskit-rehearsal-logging-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
INSTALLED_APPS = ["opskit"]
MIDDLEWARE = ["opskit.middleware.OpsKitMiddleware"]
ROOT_URLCONF = "tests.rehearsal.logging_app"
DATABASES: dict[str, Any] = {}
# The request line alone: the other capabilities' per-request work is
# measured by the other scenarios.
OPSKIT: dict[str, Any] = {
    "LOGGING": {"SKIP_PATHS": []},
    "METRICS": {"ENABLED": False},
    "QUERIES": {"ENABLED": False},
    "HEALTH": {"ENABLED": False},
    "RATELIMIT": {"ENABLED": False},
}

_LOG_DIR = os.environ.get("REHEARSAL_LOG_DIR")
LOGGING = (
    rotating_file_logging(
        _LOG_DIR,
        max_bytes=int(os.environ.get("REHEARSAL_LOG_MAX_BYTES", "204800")),
        backup_count=int(os.environ.get("REHEARSAL_LOG_BACKUPS", "5")),
    )
    if _LOG_DIR
    else json_logging()
)

#: Read by gunicorn with ``-c python:tests.rehearsal.logging_app`` (it takes
#: only the names it knows): the master's own lines in JSON too.
logconfig_dict = json_logging()


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("rehearsal: a view that fails")


urlpatterns = [path("ok/", ok), path("boom/", boom)]


def _wsgi() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.rehearsal.logging_app")
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def __getattr__(name: str) -> Any:
    # The applications are built when a server asks for them, not when
    # Django imports this module as settings or URLconf.
    if name == "application":
        return _wsgi()
    if name == "asgi_application":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.rehearsal.logging_app")
        from django.core.asgi import get_asgi_application

        return get_asgi_application()
    raise AttributeError(name)
