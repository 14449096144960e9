"""Settings for the health benchmark project (see ``__init__``)."""

from __future__ import annotations

import os
import tempfile
from typing import Any
from urllib.parse import urlparse

VARIANT = os.environ.get("BENCH_HEALTH_VARIANT", "opskit")
HUNG_PORT = os.environ.get("BENCH_HEALTH_HUNG_PORT")

SECRET_KEY = "bench-health"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "bench.healthproj.urls"
WSGI_APPLICATION = "bench.healthproj.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

_db = urlparse(os.environ.get("OPSKIT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
_pg: dict[str, Any] = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": os.environ.get("BENCH_HEALTH_DB", "opskit_bench_health"),
    "USER": _db.username or "postgres",
    "PASSWORD": _db.password or "",
    "HOST": _db.hostname or "127.0.0.1",
    "PORT": str(_db.port or 5432),
    # Persistent connections, as a production project would configure.
    "CONN_MAX_AGE": 60,
}
DATABASES: dict[str, Any] = {"default": _pg}
if HUNG_PORT:
    DATABASES["hung"] = {**_pg, "HOST": "127.0.0.1", "PORT": HUNG_PORT}

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": os.environ.get("OPSKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "KEY_PREFIX": f"opskit-bench-health-{os.getpid()}",
    }
}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}

if VARIANT == "opskit":
    INSTALLED_APPS.append("opskit")
    MIDDLEWARE.insert(0, "opskit.middleware.OpsKitMiddleware")
    checks = ["database:default", "redis:default"] + (["database:hung"] if HUNG_PORT else [])
    OPSKIT = {
        # Only the health capability: the suite measures the probe path.
        "LOGGING": {"ENABLED": False},
        "METRICS": {"ENABLED": False},
        "RATELIMIT": {"ENABLED": False},
        "QUERIES": {"ENABLED": False},
        "SLOW_REQUESTS": {"ENABLED": False},
        "HEALTH": {"CHECKS": checks},
    }
elif VARIANT == "health_check":
    INSTALLED_APPS.append("health_check")
elif VARIANT == "watchman":
    INSTALLED_APPS.append("watchman")
    WATCHMAN_CHECKS = ("watchman.checks.databases", "watchman.checks.caches")
    WATCHMAN_DATABASES = ("default", "hung") if HUNG_PORT else ("default",)
    WATCHMAN_CACHES = ("default",)
elif VARIANT == "watchman_defaults":
    # As installed by the book: default checks (caches, databases, storage)
    # and Django's default CONN_MAX_AGE = 0.
    INSTALLED_APPS.append("watchman")
    for _cfg in DATABASES.values():
        _cfg["CONN_MAX_AGE"] = 0
    MEDIA_ROOT = os.environ.get("BENCH_HEALTH_MEDIA") or tempfile.gettempdir()
