"""Worker liveness for container probes: a file the worker's own loop keeps fresh.

A Celery worker that is alive but stuck (its consumer loop blocked) still has
a process for ``ps`` and may still answer nothing to a broker ping during a
broker outage, which is not its fault.  So liveness asks neither: the
worker's timer, which runs on the same loop that consumes tasks, touches a
file every ``interval`` seconds, and ``manage.py opskit_worker_live`` (the
probe) checks that the file is recent.  No broker, no network, no Django
database: a broker or database outage never restarts the workers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_PATH", "install_liveness", "is_alive"]

#: Where the heartbeat file lives unless told otherwise (a writable emptyDir).
DEFAULT_PATH = "/tmp/opskit-celery-alive"


def _touch(path: str) -> None:
    Path(path).touch()


def install_liveness(app: Any, path: str = DEFAULT_PATH, interval: float = 5.0) -> None:
    """Add a worker bootstep to ``app`` that touches ``path`` every ``interval`` s.

    Call it once where the Celery app is made (``proj/celery.py``).  The file
    is removed when the worker stops, so a stopped worker is never live.
    """
    from celery import bootsteps

    class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            self.tref: Any = None

        def start(self, worker: Any) -> None:
            _touch(path)
            self.tref = worker.timer.call_repeatedly(interval, _touch, (path,), priority=10)

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
            try:
                os.unlink(path)
            except OSError:
                pass

    app.steps["worker"].add(Heartbeat)


def is_alive(path: str = DEFAULT_PATH, max_age: float = 30.0) -> bool:
    """Whether the heartbeat file was touched in the last ``max_age`` seconds."""
    try:
        return time.time() - os.stat(path).st_mtime <= max_age
    except OSError:
        return False
