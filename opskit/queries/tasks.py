"""The query monitor in background tasks: statistics per task run.

A task run is monitored like a request: its queries are counted on every
alias, slow queries and N+1 patterns are reported with the task's name
where a request has its route, and the totals reach the task line.
"""

from __future__ import annotations

from typing import Any

from .. import signals
from ..conf import get_settings
from ..context import RequestRecord
from ..extensions import report_internal_error
from .scope import new_request_stats
from .stats import QueryStats

__all__ = ["connect"]


def on_task_started(sender: Any, **kwargs: Any) -> None:
    record = kwargs.get("record")
    if not isinstance(record, RequestRecord) or not get_settings().QUERIES.ENABLED:
        return
    try:
        record.db = new_request_stats(record)
    except Exception as exc:
        report_internal_error("task query statistics", exc)


def on_task_finished(sender: Any, **kwargs: Any) -> None:
    record = kwargs.get("record")
    stats = record.db if isinstance(record, RequestRecord) else None
    if isinstance(stats, QueryStats):
        try:
            stats.close()
            stats.release()
        except Exception as exc:
            report_internal_error("task query report", exc)


def connect() -> None:
    """Connected by the query monitor's READY hook (idempotent)."""
    signals.task_started.connect(on_task_started, dispatch_uid="opskit.queries.task_started")
    signals.task_finished.connect(on_task_finished, dispatch_uid="opskit.queries.task_finished")
