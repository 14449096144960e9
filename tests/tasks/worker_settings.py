"""Django settings of the test Celery worker: the test settings, logging to a file."""

from __future__ import annotations

import os

from opskit.logs import json_logging
from tests.settings import *  # noqa: F403

DATABASES = {  # the worker's queries: SQLite, no server needed
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(os.environ["OPSKIT_WORKER_DIR"], "worker.sqlite3"),
    }
}
OPSKIT = {
    "RATELIMIT": {"BACKEND": "cache", "CACHE": "default"},
    "SENTRY": {"DSN": os.environ.get("OPSKIT_WORKER_SENTRY_DSN")},
    "TASKS": {
        "WORKER_METRICS_PORT": int(os.environ["OPSKIT_WORKER_METRICS_PORT"]),
        "SLOW_TASK_MS": None,
    },
}
LOGGING = json_logging()
LOGGING["handlers"]["opskit_stdout"] = {
    "class": "logging.FileHandler",
    "filename": os.path.join(os.environ["OPSKIT_WORKER_DIR"], "worker.log"),
    "formatter": "opskit_json",
    "filters": ["opskit_request_id"],
}
