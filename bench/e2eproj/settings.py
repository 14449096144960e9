"""Settings of the end-to-end project (see the package docstring)."""

from __future__ import annotations

import os
from typing import Any

from bench.inproc import BASE_APPS, BASE_MIDDLEWARE, anchor_logging

BENCH_E2E_VARIANT = os.environ.get("BENCH_E2E_VARIANT", "bare")

SECRET_KEY = "bench-e2e"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "bench.e2eproj.urls"
WSGI_APPLICATION = "bench.e2eproj.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
INSTALLED_APPS = list(BASE_APPS)
MIDDLEWARE = list(BASE_MIDDLEWARE)
LOGGING: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}
_STDOUT = {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}

if BENCH_E2E_VARIANT == "opskit":
    from opskit.logs import json_logging

    INSTALLED_APPS.append("opskit")
    MIDDLEWARE.insert(0, "opskit.middleware.OpsKitMiddleware")
    # Every capability on (their defaults); Sentry needs a DSN and the
    # anchor stack has no Sentry either.
    OPSKIT: dict[str, Any] = {}
    LOGGING = json_logging()
elif BENCH_E2E_VARIANT == "anchors":
    INSTALLED_APPS += ["django_prometheus", "django_structlog", "django_guid"]
    MIDDLEWARE.insert(0, "django_guid.middleware.guid_middleware")
    MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
    MIDDLEWARE += [
        "django_structlog.middlewares.RequestMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    LOGGING.update(anchor_logging(_STDOUT))
elif BENCH_E2E_VARIANT != "bare":
    raise RuntimeError(f"unknown BENCH_E2E_VARIANT {BENCH_E2E_VARIANT!r}")
