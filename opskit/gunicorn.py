"""Gunicorn hooks for multi-process metrics: ``gunicorn -c python:opskit.gunicorn``.

With several workers each process writes its metric values to files in
``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` merges them.  Two things must
happen outside the workers, in the gunicorn master, and this module does them:

* ``on_starting``: empty the directory, so values of a previous run (or a
  previous deploy) are not added to this one.
* ``child_exit``: ``mark_process_dead`` for every worker that exits, so its
  "live" gauges (``http_server_active_requests``, health checks) stop
  counting; its counters and histograms stay, as totals must.

It sets nothing else: ``bind`` and ``workers`` keep gunicorn's defaults
(``$PORT``, ``$WEB_CONCURRENCY``), the command line and ``GUNICORN_CMD_ARGS``.
With your own config file, import the hooks (and call them from yours if you
have hooks of the same name)::

    # gunicorn.conf.py
    from opskit.gunicorn import child_exit, on_starting  # noqa: F401
    workers = 4
    # Optional: the master's own lines ("Booting worker"...) in JSON too;
    # the workers follow Django's LOGGING either way.
    from opskit.logs import json_logging
    logconfig_dict = json_logging()

``PROMETHEUS_MULTIPROC_DIR`` must be in the environment before gunicorn
starts (prometheus-client reads it once, at import).  This module imports
neither Django nor prometheus-client at import time.
"""

from __future__ import annotations

import glob
import os
from typing import Any

__all__ = ["child_exit", "clean_multiprocess_dir", "on_starting"]


def _directory() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def clean_multiprocess_dir(path: str) -> int:
    """Create ``path`` if needed and delete its ``*.db`` files; returns how many."""
    os.makedirs(path, exist_ok=True)
    removed = 0
    for name in glob.glob(os.path.join(path, "*.db")):
        try:
            os.remove(name)
            removed += 1
        except FileNotFoundError:
            pass
    return removed


def on_starting(server: Any) -> None:
    """Gunicorn hook (master, once): start from an empty metrics directory."""
    path = _directory()
    if path:
        removed = clean_multiprocess_dir(path)
        server.log.info("opskit: metrics directory %s cleaned (%d files)", path, removed)
    elif getattr(server.cfg, "workers", 1) > 1:
        server.log.warning(
            "opskit: PROMETHEUS_MULTIPROC_DIR is not set; with %d workers each "
            "scrape sees one worker's metrics only.",
            server.cfg.workers,
        )


def child_exit(server: Any, worker: Any) -> None:
    """Gunicorn hook (master, per worker exit): drop the worker's live gauges."""
    path = _directory()
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, path)  # type: ignore[no-untyped-call]
