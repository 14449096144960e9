"""Celery's signals in, opskit's task record and signals out.

Publishing (``before_task_publish``, in the enqueuing process): the message
headers get the correlation id, a ``traceparent`` and the enqueue time.
Running (``task_prerun`` … ``task_postrun``, in the worker, around the task
body in the same thread and context): a record of the run is active from
before the body to after it, and :data:`opskit.signals.task_started` /
:data:`~opskit.signals.task_finished` bracket it.  ``task_postrun`` is sent
for every outcome (success, failure, retry, reject), so every run that
finishes has exactly one ``task_finished``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from .. import signals
from ..conf import get_settings
from ..context import RequestRecord, activate, current, deactivate
from ..ids import new_request_id, parse_traceparent, valid_request_id
from ..propagation import PARENT_KEY, correlation_id, traceparent

__all__ = [
    "ENQUEUED_HEADER",
    "PARENT_HEADER",
    "STATES",
    "TASK_KEY",
    "connect_celery",
    "header",
]

#: Message header with the id of the request that started the chain.
PARENT_HEADER = "opskit_request_id"
#: Message header with the enqueue time (Unix seconds, the publisher's clock).
ENQUEUED_HEADER = "opskit_enqueued_at"
#: ``record.extra`` key of the task's details (a dict).
TASK_KEY = "task"
#: Celery's final states of a run, as opskit names them.
STATES: dict[str, str] = {
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "RETRY": "retried",
    "REJECTED": "rejected",
    "IGNORED": "ignored",
}

slow_logger = logging.getLogger("opskit.slow")

#: Runs in progress in this process, by task id (a task body may run in a
#: thread pool, so the record is found by id, not by thread).
_running: dict[str, tuple[RequestRecord, Any]] = {}
_lock = threading.Lock()


def header(request: Any, name: str) -> Any:
    """A custom message header of a task request (an attribute since protocol 2)."""
    value = getattr(request, name, None)
    if value is None:
        headers = getattr(request, "headers", None)
        if isinstance(headers, dict):
            value = headers.get(name)
    return value


def on_before_publish(sender: Any = None, headers: dict[str, Any] | None = None, **kw: Any) -> None:
    if headers is None:
        return
    headers[ENQUEUED_HEADER] = time.time()
    record = current()
    if record is None:
        return
    headers[PARENT_HEADER] = correlation_id(record)
    parent = traceparent(record)
    if parent is not None:
        headers["traceparent"] = parent


def on_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **kw: Any) -> None:
    if task is None or task_id is None:
        return
    request = task.request
    enclosing = current()
    parent = valid_request_id(header(request, PARENT_HEADER))
    if parent is None and enclosing is not None:
        parent = correlation_id(enclosing)  # run eagerly inside a request
    name = str(getattr(task, "name", None) or type(task).__name__)
    record = RequestRecord(new_request_id(), method="TASK", path=name)
    record.view = name
    if parent is not None:
        record.extra[PARENT_KEY] = parent
    parsed = parse_traceparent(header(request, "traceparent"))
    if parsed is not None:
        record.trace_id, record.span_id = parsed
    wait: float | None = None
    enqueued = header(request, ENQUEUED_HEADER)
    if isinstance(enqueued, (int, float)) and math.isfinite(enqueued):
        wait = max(0.0, time.time() - float(enqueued))
    delivery = getattr(request, "delivery_info", None) or {}
    record.extra[TASK_KEY] = {
        "name": name,
        "id": task_id,
        "queue": delivery.get("routing_key") if isinstance(delivery, dict) else None,
        "retries": int(getattr(request, "retries", 0) or 0),
        "queue_wait": wait,
        "eager": bool(getattr(request, "is_eager", False)),
        "state": None,
        "exception": None,
    }
    token = activate(record)
    with _lock:
        _running[task_id] = (record, token)
    signals.send(signals.task_started, sender=task, record=record)


def on_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    **kw: Any,
) -> None:
    entry = _running.get(task_id or "")
    if entry is None or exception is None:
        return
    record = entry[0]
    record.error_type = type(exception).__name__
    record.extra[TASK_KEY]["exception"] = exception


def on_postrun(
    sender: Any = None,
    task_id: str | None = None,
    task: Any = None,
    state: str | None = None,
    **kw: Any,
) -> None:
    with _lock:
        entry = _running.pop(task_id or "", None)
    if entry is None:
        return
    record, token = entry
    try:
        duration = record.finish()
        info = record.extra[TASK_KEY]
        outcome = STATES.get(str(state), str(state).lower() if state else "failed")
        info["state"] = outcome
        signals.send(signals.task_finished, sender=task, record=record, state=outcome)
        _check_slow(record, info["name"], duration)
    finally:
        deactivate(token)


def _check_slow(record: RequestRecord, name: str, duration: float) -> None:
    s = get_settings().TASKS
    threshold_ms = s.SLOW_TASKS.get(name, s.SLOW_TASK_MS)
    if threshold_ms is None or duration * 1000.0 < threshold_ms:
        return
    slow_logger.warning(
        "slow task %s: %.0f ms (threshold %.0f ms)",
        name,
        duration * 1000.0,
        threshold_ms,
        extra={
            "event": "slow_task",
            "task.name": name,
            "duration_ms": round(duration * 1000.0, 2),
            "threshold_ms": threshold_ms,
        },
    )


def connect_celery() -> None:
    """Connect the receivers (idempotent: fixed ``dispatch_uid``)."""
    from celery import signals as celery_signals

    celery_signals.before_task_publish.connect(
        on_before_publish, dispatch_uid="opskit.tasks.publish", weak=False
    )
    celery_signals.task_prerun.connect(on_prerun, dispatch_uid="opskit.tasks.prerun", weak=False)
    celery_signals.task_failure.connect(on_failure, dispatch_uid="opskit.tasks.failure", weak=False)
    celery_signals.task_postrun.connect(on_postrun, dispatch_uid="opskit.tasks.postrun", weak=False)
