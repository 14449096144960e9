"""The demo's Celery app: eager with no broker (``make demo``), a worker on Redis otherwise.

    celery -A demo worker --loglevel=INFO    # with REDIS_URL (or CELERY_BROKER_URL) set

opskit needs nothing here: ``django.setup()`` runs its ready hook, which
connects to Celery's signals.  The heartbeat file is the worker's liveness
probe (``manage.py opskit_worker_live``).
"""

from __future__ import annotations

import os

from celery import Celery

from opskit.tasks.liveness import install_liveness

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")

app = Celery("demo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
install_liveness(app, path=os.environ.get("CELERY_ALIVE_FILE", "/tmp/celery-alive"))
