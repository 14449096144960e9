"""The task line: one JSON record per task run, like the request line.

Written on :data:`opskit.signals.task_finished`, when the query monitor's
statistics are complete.  The task's arguments are never written: they
often carry personal data and secrets, and the task id finds them in the
result backend or the broker when they are needed.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import signals
from ..conf import get_settings
from ..context import RequestRecord
from ..extensions import report_internal_error
from .extension import RecordMaker, add_db_and_trace, millis

__all__ = ["connect", "task_fields"]

_LEVELS = {"failed": logging.ERROR, "retried": logging.WARNING}
#: The task line's message: ``task blog.notify succeeded 12.4 ms``.
MESSAGE = "task %s %s %.1f ms"
#: One record maker per logger name (the request line's cheap record path).
_makers: dict[str, RecordMaker] = {}


def task_fields(record: RequestRecord, state: str) -> dict[str, Any]:
    """The fields of the task line (also the slow-task and Sentry context)."""
    info = record.extra.get("task") or {}
    fields: dict[str, Any] = {"request_id": record.request_id}
    parent = record.extra.get("parent_request_id")
    if parent is not None:
        fields["parent_request_id"] = parent
    fields["task.name"] = info.get("name")
    fields["task.id"] = info.get("id")
    if info.get("queue") is not None:
        fields["task.queue"] = info["queue"]
    fields["task.state"] = state
    fields["task.retries"] = info.get("retries", 0)
    fields["duration_ms"] = millis(record.duration)
    wait = info.get("queue_wait")
    if wait is not None:
        fields["task.queue_wait_ms"] = millis(wait)
    if record.error_type is not None:
        fields["error.type"] = record.error_type
    add_db_and_trace(fields, record)
    return fields


def on_task_finished(sender: Any, **kwargs: Any) -> None:
    record = kwargs.get("record")
    if not isinstance(record, RequestRecord):
        return
    try:
        state = str(kwargs.get("state") or "failed")
        level = _LEVELS.get(state, logging.INFO)
        name = get_settings().TASKS.LOGGER or "opskit.task"
        maker = _makers.get(name)
        if maker is None:
            maker = _makers[name] = RecordMaker(logging.getLogger(name))
        logger = maker.logger
        if not logger.isEnabledFor(level):
            return
        fields = task_fields(record, state)
        args = (fields["task.name"], state, fields["duration_ms"])
        logger.handle(maker.make(level, MESSAGE, args, fields))
    except Exception as exc:  # a raising handler, filter or formatter
        report_internal_error("task log line", exc)


def connect() -> None:
    """READY hook: write a line per task run (idempotent)."""
    signals.task_finished.connect(on_task_finished, dispatch_uid="opskit.logs.task")
