"""Slow requests and N+1 patterns as Sentry warnings, one issue per pattern.

The slow-request check and the query monitor send signals
(:mod:`opskit.signals`); these receivers turn them into warning-level
message events with a fingerprint, so Sentry groups every occurrence of one
pattern into one issue whatever the durations and counts were.  A pattern
is reported at most once per ``REPORT_INTERVAL`` seconds per process: the
issue's event count stays meaningful without one hot endpoint burning the
event quota.
"""

from __future__ import annotations

from typing import Any

from ..conf import get_settings
from ..context import RequestRecord, queries_hidden
from ..extensions import report_internal_error
from ..signals import n_plus_one_detected, slow_request_detected
from ..throttle import Throttle

__all__ = ["connect", "disconnect", "on_n_plus_one", "on_slow_request"]

#: Reports sent, by pattern: at most one per ``REPORT_INTERVAL`` each.
sent = Throttle(max_keys=2048)


def _capture(
    message: str,
    fingerprint: list[str],
    extra: dict[str, Any],
    record: RequestRecord | None = None,
) -> None:
    # Signal.send() re-raises a receiver's exception into the sender (the
    # query monitor, the slow-request check): never let Sentry do that.
    try:
        import sentry_sdk

        with queries_hidden(), sentry_sdk.new_scope() as scope:
            scope.fingerprint = fingerprint
            scope.set_context("opskit", extra)
            if record is not None and record.trace_id and record.span_id:
                # The report is sent as the request finishes, after opskit's
                # lean integration has left the request's isolation scope:
                # name the request's trace, not the thread's.
                scope.set_context("trace", {"trace_id": record.trace_id, "span_id": record.span_id})
            scope.capture_message(message, level="warning")
    except Exception as exc:
        report_internal_error("sentry report", exc)


def on_slow_request(
    sender: Any,
    *,
    threshold: float,
    duration: float,
    record: RequestRecord | None = None,
    **kwargs: Any,
) -> None:
    """One issue per (method, route): "Slow request: GET articles/<int:pk>/"."""
    settings = get_settings()
    s = settings.SENTRY
    if not s.REPORT_SLOW_REQUESTS or record is None:
        return
    route = record.route or record.path
    key = ("slow", record.method, route)
    if not sent.due(key, s.REPORT_INTERVAL):
        return
    _capture(
        f"Slow request: {record.method} {route}",
        ["opskit.slow_request", record.method, route],
        {
            "duration_ms": round(duration * 1000.0, 1),
            "threshold_ms": round(threshold * 1000.0, 1),
            "status": record.status,
            "db_queries": record.db.count if record.db is not None else None,
            "db_ms": round(record.db.duration * 1000.0, 1) if record.db is not None else None,
        },
        record,
    )


def on_n_plus_one(
    sender: Any,
    *,
    alias: str,
    fingerprint: str,
    count: int,
    duration: float,
    sql: str = "",
    call_site: str | None = None,
    record: RequestRecord | None = None,
    **kwargs: Any,
) -> None:
    """One issue per (alias, query fingerprint, route): a pattern where it repeats."""
    s = get_settings().SENTRY
    if not s.REPORT_N_PLUS_ONE:
        return
    route = _route(record)
    key = ("n+1", alias, fingerprint, route)
    if not sent.due(key, s.REPORT_INTERVAL):
        return
    where = call_site or route
    _capture(
        f"N+1 queries at {where}: {sql[:120]}",
        ["opskit.n_plus_one", alias, fingerprint, route],
        {
            "alias": alias,
            "fingerprint": fingerprint,
            "count": count,
            "duration_ms": round(duration * 1000.0, 2),
            "sql": sql[:1000],
            "call_site": call_site,
            "route": route,
        },
        record,
    )


def _route(record: RequestRecord | None) -> str:
    """The route, else the view or task name: what a pattern is grouped by."""
    if record is None:
        return "-"
    return record.route or record.view or record.path or "-"


def connect() -> None:
    slow_request_detected.connect(on_slow_request, dispatch_uid="opskit.sentry.slow_request")
    n_plus_one_detected.connect(on_n_plus_one, dispatch_uid="opskit.sentry.n_plus_one")


def disconnect() -> None:
    slow_request_detected.disconnect(dispatch_uid="opskit.sentry.slow_request")
    n_plus_one_detected.disconnect(dispatch_uid="opskit.sentry.n_plus_one")
    sent.clear()
