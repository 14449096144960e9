"""The Celery app of the task tests: the test process enqueues, a real worker runs.

The broker is a private redis-server named by ``OPSKIT_CELERY_BROKER``
(set by the fixtures before this module is imported, in both processes).
"""

from __future__ import annotations

import os

from celery import Celery

from opskit.tasks.liveness import install_liveness

app = Celery("opskit_tests")
app.conf.update(
    broker_url=os.environ.get("OPSKIT_CELERY_BROKER", "memory://"),
    result_backend=None,
    task_default_queue="opskit-tests",
    # opskit's LOGGING (JSON lines with the ids) stays in charge of the worker.
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    worker_prefetch_multiplier=1,
    task_acks_late=False,
    broker_connection_retry_on_startup=True,
)

if os.environ.get("OPSKIT_WORKER_DIR"):  # the worker process: prove it is live
    install_liveness(app, path=os.path.join(os.environ["OPSKIT_WORKER_DIR"], "alive"), interval=0.5)


@app.task(name="tests.count_rows")
def count_rows(n: int = 1) -> int:
    """Runs ``n`` queries, so the task line and metrics have statistics to show."""
    from django.db import connection

    total = 0
    with connection.cursor() as cursor:
        for _ in range(n):
            cursor.execute("SELECT 1")
            total += cursor.fetchone()[0]
    return total


@app.task(name="tests.flaky", bind=True, max_retries=2, default_retry_delay=0)
def flaky(self) -> None:  # type: ignore[no-untyped-def]
    """Fails every try: two retries, then the final failure."""
    raise self.retry(exc=RuntimeError("still broken"), countdown=0)


@app.task(name="tests.log_something")
def log_something(text: str) -> str:
    import logging

    logging.getLogger("tests.task").warning("inside the task: %s", text)
    return text
