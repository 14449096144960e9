"""Task metrics, and ``/metrics`` served by a Celery worker.

A prefork worker's children each write their own values; with
``PROMETHEUS_MULTIPROC_DIR`` set for the worker (as for gunicorn) the main
process serves them merged, on ``TASKS.WORKER_METRICS_PORT``.  Counters live
in the children's files, which outlive the children, so a killed child's
counts stay and the totals never go backwards; its in-flight gauge is
dropped when Celery reports the child gone.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .. import signals
from ..conf import get_settings
from ..context import RequestRecord
from ..extensions import report_internal_error
from .definitions import TASK_STATES, get_metrics, is_multiprocess

__all__ = ["connect", "serve_worker_metrics"]

logger = logging.getLogger("opskit.metrics")


def _task(kwargs: dict[str, Any]) -> tuple[RequestRecord, dict[str, Any], Any] | None:
    record = kwargs.get("record")
    if not isinstance(record, RequestRecord):
        return None
    info = record.extra.get("task")
    m = get_metrics()
    if not isinstance(info, dict) or m is None:
        return None
    return record, info, m


def on_task_started(sender: Any, **kwargs: Any) -> None:
    try:
        found = _task(kwargs)
        if found is not None:
            _, info, m = found
            m.task_started(info.get("name"), info.get("queue_wait"))
            info["metrics_counted"] = True
    except Exception as exc:
        report_internal_error("metrics task_started", exc)


def on_task_finished(sender: Any, **kwargs: Any) -> None:
    try:
        found = _task(kwargs)
        if found is None:
            return
        record, info, m = found
        state = str(kwargs.get("state"))
        if state not in TASK_STATES:
            state = "failed"
        m.task_finished(info.get("name"), state, record.duration, "metrics_counted" in info)
    except Exception as exc:
        report_internal_error("metrics task_finished", exc)


def serve_worker_metrics(sender: Any = None, **kwargs: Any) -> None:
    """``worker_init``: serve ``/metrics`` from the worker's main process."""
    s = get_settings()
    port = s.TASKS.WORKER_METRICS_PORT
    if port is None or not s.METRICS.ENABLED:
        return
    try:
        from prometheus_client import start_http_server

        from .views import scrape_registry

        if not is_multiprocess():
            logger.warning(
                "opskit: PROMETHEUS_MULTIPROC_DIR is not set for this Celery worker; "
                "a prefork pool's children are not aggregated in its /metrics",
                extra={"event": "metrics.worker_not_multiprocess"},
            )
        start_http_server(port, addr=s.TASKS.WORKER_METRICS_ADDR, registry=scrape_registry())
        logger.info(
            "opskit: worker metrics on http://%s:%d/metrics",
            s.TASKS.WORKER_METRICS_ADDR,
            port,
            extra={"event": "metrics.worker_serving", "port": port},
        )
    except Exception as exc:
        report_internal_error("worker metrics server", exc)


def _child_gone(sender: Any = None, pid: int | None = None, **kwargs: Any) -> None:
    """``worker_process_shutdown`` (in the child): drop its live gauges."""
    if not is_multiprocess():
        return
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
    except Exception as exc:
        report_internal_error("metrics mark_process_dead", exc)


def connect() -> None:
    """READY hook: task metrics, and the worker's server when Celery is installed."""
    s = get_settings()
    if not (s.METRICS.ENABLED and s.TASKS.ENABLED):
        return
    signals.task_started.connect(on_task_started, dispatch_uid="opskit.metrics.task_started")
    signals.task_finished.connect(on_task_finished, dispatch_uid="opskit.metrics.task_finished")
    try:
        from celery import signals as celery_signals
    except ImportError:
        return
    celery_signals.worker_init.connect(
        serve_worker_metrics, dispatch_uid="opskit.metrics.worker_init", weak=False
    )
    celery_signals.worker_process_shutdown.connect(
        _child_gone, dispatch_uid="opskit.metrics.child_gone", weak=False
    )
