"""Per-request Sentry work: W3C trace continuation and trace ids for the logs.

Runs first among the extensions so every later hook (and the log line)
sees the Sentry trace ids.  When Sentry is off the extension drops itself
(``active = False``) and costs nothing.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from ..extensions import Extension
from .lean import REQUEST_KEY
from .state import state

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ..context import RequestRecord

__all__ = ["SentryExtension"]

_SCOPE_KEY = "sentry.scope"


class SentryExtension(Extension):
    """Join an incoming W3C trace; put Sentry's trace and span ids on the record."""

    def __init__(self) -> None:
        self.active = state.active

    def request_started(self, record: RequestRecord, request: HttpRequest) -> None:
        if not state.active:
            return
        import sentry_sdk

        if state.lean:
            # What the SDK's WSGI/ASGI middleware would do: a fresh
            # isolation scope for this request, left in request_finished.
            scope_cm = sentry_sdk.isolation_scope()
            isolation = scope_cm.__enter__()
            isolation.clear_breadcrumbs()
            record.extra[_SCOPE_KEY] = scope_cm
            # A weak reference: the request already holds the record.
            record.extra[REQUEST_KEY] = weakref.ref(request)
        else:
            isolation = sentry_sdk.get_isolation_scope()
        meta = request.META
        sentry_trace = meta.get("HTTP_SENTRY_TRACE")
        if sentry_trace is None and record.trace_id is not None:
            # sentry-sdk 2.x continues only its own sentry-trace header; a
            # W3C traceparent (the core parsed it) becomes the same trace.
            isolation.generate_propagation_context(
                {"sentry-trace": f"{record.trace_id}-{record.span_id}"}
            )
            if state.tracing:
                txn = sentry_sdk.get_current_scope().transaction
                if txn is not None and txn.parent_span_id is None:
                    txn.trace_id = record.trace_id
                    txn.parent_span_id = record.span_id
        elif not state.traced_methods:
            # The SDK's middleware did not start a trace (errors only, see
            # integration._init_options): one per request, from the
            # incoming Sentry headers if any.
            if sentry_trace is None:
                isolation.set_new_propagation_context()
            else:
                incoming = {"sentry-trace": sentry_trace}
                baggage = meta.get("HTTP_BAGGAGE")
                if baggage is not None:
                    incoming["baggage"] = baggage
                isolation.generate_propagation_context(incoming)
        span = sentry_sdk.get_current_span() if state.tracing else None
        if span is not None:
            record.trace_id = span.trace_id
            record.span_id = span.span_id
        else:
            propagation = isolation.get_active_propagation_context()
            record.trace_id = propagation.trace_id
            record.span_id = propagation.span_id

    def request_finished(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase | None
    ) -> None:
        scope_cm = record.extra.pop(_SCOPE_KEY, None)
        if scope_cm is not None:
            scope_cm.__exit__(None, None, None)
        # Transactions are sent after the record is gone: tag them now.
        if not state.tracing:
            return
        import sentry_sdk

        txn = sentry_sdk.get_current_scope().transaction
        if txn is not None and txn.sampled:
            txn.set_tag("request_id", record.request_id)
            if record.route is not None:
                txn.set_tag("http.route", record.route)
