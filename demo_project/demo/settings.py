"""The opskit demo: SQLite and local memory by default, no services needed.

``DATABASE_URL`` (postgres://...) and ``REDIS_URL`` (redis://...) switch it to
PostgreSQL and Redis for a production-like run under gunicorn.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url

from opskit.logs import json_logging

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "demo-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "opskit",
    "blog",
]

MIDDLEWARE = [
    "opskit.middleware.OpsKitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The rate limiter's HTML 429/503 in the blog's layout, in words.
    "blog.pages.StyledErrorPages",
]

ROOT_URLCONF = "demo.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "blog.pages.project_links",  # the footer's links to the docs
            ]
        },
    }
]
WSGI_APPLICATION = "demo.wsgi.application"
ASGI_APPLICATION = "demo.asgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=60, conn_health_checks=True
    )
}
if "postgresql" in DATABASES["default"]["ENGINE"]:
    # Every wait a request can make on PostgreSQL is bounded, so a hung or
    # unreachable database fails requests fast instead of holding threads
    # (and /livez keeps a thread): docs/operations/servers.md.
    # A new connection per request: its first wait is a connect, bounded by
    # connect_timeout; a kept one would wait on a frozen server unbounded.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "connect_timeout": 2,
        # Queries and lock waits end server-side.
        "options": "-c statement_timeout=5000 -c lock_timeout=2000",
        # A dead network: unacknowledged data for 5 s, or an idle peer gone.
        "tcp_user_timeout": 5000,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        **DATABASES["default"].get("OPTIONS", {}),
    }

REDIS_URL = os.environ.get("REDIS_URL")
CACHES: dict[str, Any]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A frozen Redis fails a cache call in 0.5 s, never holds a thread.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _csv(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


OPSKIT: dict[str, Any] = {
    "TRUSTED_PROXIES": _csv("TRUSTED_PROXIES"),
    # Atomic limits on Redis when there is one; the local cache for `make demo`
    # (one process: runserver), which `manage.py check` warns about elsewhere.
    "RATELIMIT": {"BACKEND": "redis" if REDIS_URL else "cache"},
    # Loopback, plus e.g. the compose network Prometheus scrapes from.
    "METRICS": {"ALLOWED_IPS": ["127.0.0.0/8", "::1/128", *_csv("METRICS_ALLOWED_IPS")]},
    # Server-Timing (db;dur=...) for loopback clients: visible in devtools.
    "QUERIES": {"SERVER_TIMING": True},
    "SLOW_REQUESTS": {"THRESHOLD_MS": 1000.0},
    # /readyz details (each check's status and time) for Authorization: Bearer <token>.
    "HEALTH": {"TOKEN": os.environ.get("HEALTH_TOKEN") or None},
    # With SENTRY_DSN set: errors, plus N+1 patterns and slow requests as
    # warning issues (one per pattern per 5 minutes).
    "SENTRY": {"REPORT_N_PLUS_ONE": True, "REPORT_SLOW_REQUESTS": True},
    # A Celery worker serves its tasks' metrics on this port (all children).
    "TASKS": {
        "WORKER_METRICS_PORT": int(os.environ["WORKER_METRICS_PORT"])
        if os.environ.get("WORKER_METRICS_PORT")
        else None,
        "WORKER_METRICS_ADDR": os.environ.get("WORKER_METRICS_ADDR", "127.0.0.1"),
    },
}

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
# The demo serves plain HTTP on localhost; behind TLS set DJANGO_SECURE=1.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = os.environ.get("DJANGO_SECURE", "") == "1"

# One JSON line per request on stdout, with the request id on every record.
# runserver's access lines ("GET / HTTP/1.1" 200) would repeat opskit's
# request line: keep only its errors.
LOGGING = json_logging()
LOGGING["loggers"]["django.server"] = {"handlers": [], "level": "ERROR", "propagate": True}

# Background tasks (Celery): a worker on Redis when there is one; with no
# broker (`make demo`) tasks run eagerly in the request, and opskit still
# writes their correlated task lines.  Mail goes to the console.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # LOGGING above stays in charge
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "cleanup-old-drafts": {"task": "blog.cleanup_old_drafts", "schedule": 24 * 3600.0},
}
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
