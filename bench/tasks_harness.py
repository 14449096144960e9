"""One process of the tasks suite: CPU per task (enqueue + run) for one variant.

    python -m bench.tasks_harness VARIANT N

Each iteration enqueues one task (``apply_async`` to kombu's in-memory
broker: the publish-side signals run) and runs one (``apply``: the run-side
signals run, the task body is one query).  Variants:

* ``bare``: Django + Celery, no task observability;
* ``opskit``: opskit's tasks capability (correlation headers, the JSON task
  line, metrics, query statistics), logging to a discarding stream;
* ``structlog``: django-structlog's Celery integration
  (``DJANGO_STRUCTLOG_CELERY_ENABLED``) with its documented JSON set-up, to
  the same discarding stream.

Prints one JSON object: ``{"variant", "n", "cpu_us"}`` (process CPU per
iteration, after a warm-up).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

WARMUP = 300


def _settings(variant: str) -> dict[str, Any]:
    apps = ["django.contrib.auth", "django.contrib.contenttypes"]
    middleware: list[str] = []
    sink = {"class": "logging.StreamHandler", "stream": open(os.devnull, "w")}  # noqa: SIM115
    logging: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}
    if variant == "opskit":
        from opskit.logs import json_logging

        apps.append("opskit")
        logging = json_logging()
        logging["handlers"]["opskit_stdout"]["stream"] = sink["stream"]
    elif variant == "structlog":
        import structlog

        apps.append("django_structlog")
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.filter_by_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.stdlib.add_logger_name,
                structlog.stdlib.add_log_level,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                structlog.processors.UnicodeDecoder(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            cache_logger_on_first_use=True,
        )
        logging = {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "json": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processor": structlog.processors.JSONRenderer(),
                }
            },
            "handlers": {"sink": {**sink, "formatter": "json"}},
            "root": {"handlers": ["sink"], "level": "INFO"},
        }
    return {
        "SECRET_KEY": "bench",
        "INSTALLED_APPS": apps,
        "MIDDLEWARE": middleware,
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "LOGGING": logging,
        "USE_TZ": True,
        "DJANGO_STRUCTLOG_CELERY_ENABLED": variant == "structlog",
        "OPSKIT": {
            "RATELIMIT": {"BACKEND": "cache"},
            "SENTRY": {"DSN": None},
            **json.loads(os.environ.get("BENCH_OPSKIT", "{}")),
        },
    }


def main(variant: str, n: int) -> None:
    import django
    from django.conf import settings

    settings.configure(**_settings(variant))
    django.setup()
    from celery import Celery
    from django.db import connection

    app = Celery("bench", broker="memory://localhost/")
    app.conf.task_ignore_result = True

    @app.task(name="bench.work")
    def work() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return int(cursor.fetchone()[0])

    def once() -> None:
        work.apply_async()
        work.apply()

    for _ in range(WARMUP):
        once()
    # Drain the in-memory queue so memory does not grow into the timing.
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    start = time.process_time()
    for _ in range(n):
        once()
    cpu = time.process_time() - start
    print(json.dumps({"variant": variant, "n": n, "cpu_us": cpu / n * 1e6}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
