"""Sentry in background tasks: each run in its own scope, tagged with its chain.

sentry-sdk's own Celery integration (on by default when Celery is installed)
captures a failing task's exception; opskit then only tags the event with
the task's name, id, own request id and the enqueuing request's id, so
there is exactly one event per failure.  Without that integration opskit
captures the exception itself.
"""

from __future__ import annotations

import sys
from typing import Any

from .. import signals
from ..context import RequestRecord
from ..extensions import report_internal_error

__all__ = ["connect"]

_SCOPE_KEY = "sentry_scope"


def on_task_started(sender: Any, **kwargs: Any) -> None:
    record = kwargs.get("record")
    if not isinstance(record, RequestRecord):
        return
    try:
        import sentry_sdk

        info = record.extra.get("task") or {}
        manager = sentry_sdk.isolation_scope()
        scope = manager.__enter__()
        record.extra[_SCOPE_KEY] = manager
        scope.set_tag("task.name", info.get("name"))
        scope.set_tag("task.id", info.get("id"))
        scope.set_tag("request_id", record.request_id)
        parent = record.extra.get("parent_request_id")
        if parent is not None:
            scope.set_tag("parent_request_id", parent)
        if record.trace_id is not None:
            scope.set_tag("trace_id", record.trace_id)
    except Exception as exc:
        report_internal_error("sentry task scope", exc)


def on_task_finished(sender: Any, **kwargs: Any) -> None:
    record = kwargs.get("record")
    if not isinstance(record, RequestRecord):
        return
    manager = record.extra.pop(_SCOPE_KEY, None)
    if manager is None:
        return
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration

        exc = (record.extra.get("task") or {}).get("exception")
        client = sentry_sdk.get_client()
        if (
            kwargs.get("state") == "failed"
            and isinstance(exc, BaseException)
            and client.get_integration(CeleryIntegration) is None
        ):
            sentry_sdk.capture_exception(exc)
    except Exception as exc:
        report_internal_error("sentry task report", exc)
    finally:
        try:
            manager.__exit__(None, None, None)
        except Exception as exc:
            report_internal_error("sentry task scope", exc)


def connect() -> None:
    """READY hook (idempotent); nothing without sentry-sdk."""
    if "sentry_sdk" not in sys.modules:
        return  # not imported, so not initialised: no import for nothing (see integration.setup)
    try:
        import sentry_sdk
    except ImportError:
        return
    # Sentry is initialised before this hook (opskit's own set-up runs first,
    # or the project's sentry_sdk.init() in settings): no client, no cost.
    if not sentry_sdk.get_client().is_active():
        return
    signals.task_started.connect(on_task_started, dispatch_uid="opskit.sentry.task_started")
    signals.task_finished.connect(on_task_finished, dispatch_uid="opskit.sentry.task_finished")
