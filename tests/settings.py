"""Settings for opskit's own test suite.

Real servers only: PostgreSQL from ``OPSKIT_TEST_DATABASE_URL`` and Redis
from ``OPSKIT_TEST_REDIS_URL`` (``tools/services.py`` provides both).
``OPSKIT_TEST_DB=sqlite`` makes SQLite the default alias; the other engine
is always there as the ``other`` alias, so multi-alias code sees both.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

SECRET_KEY = "opskit-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

REDIS_URL = os.environ.get("OPSKIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
DATABASE_URL = os.environ.get(
    "OPSKIT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)


def _postgres(url: str) -> dict[str, Any]:
    u = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": (u.path or "/postgres").lstrip("/") or "postgres",
        "USER": u.username or "postgres",
        "PASSWORD": u.password or "",
        "HOST": u.hostname or "127.0.0.1",
        "PORT": str(u.port or 5432),
        "TEST": {"NAME": f"opskit_test_{os.getpid()}"},
        # Bounded connects, as opskit.W504 asks of every PostgreSQL alias.
        "OPTIONS": {"connect_timeout": 5},
    }


_sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
_pg = _postgres(DATABASE_URL)
if os.environ.get("OPSKIT_TEST_DB", "postgres") == "sqlite":
    DATABASES = {"default": _sqlite, "other": _pg}
else:
    DATABASES = {"default": _pg, "other": _sqlite}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"opskit-test-{os.getpid()}",
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    },
}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "opskit",
    "tests.testapp",
]

MIDDLEWARE = [
    "opskit.middleware.OpsKitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

OPSKIT: dict[str, Any] = {
    "RATELIMIT": {"CACHE": "redis"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"opskit": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}

# -- demo (issue 9): the demo blog's apps for tests/demo/ (its own URLconf,
# templates and middleware are set per test by tests/demo/conftest.py) --
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent.parent / "demo_project"))
INSTALLED_APPS += ["django.contrib.admin", "django.contrib.messages", "blog"]
# The admin wants context processors and MessageMiddleware that only the
# demo tests install (per test); management commands run with these
# settings (subprocess tests) must not fail their system checks for that.
SILENCED_SYSTEM_CHECKS = ["admin.E402", "admin.E404", "admin.E409", "admin.W411"]

# The demo's Celery app (demo/celery.py) reads CELERY_* from here: its tasks
# run eagerly in the tests of the demo, with no broker (and so no derived
# "celery" health check).
CELERY_TASK_ALWAYS_EAGER = True
