"""The per-request record every capability reads: a request is measured once.

The core middleware creates one :class:`RequestRecord` per request and puts
it in a :class:`contextvars.ContextVar`.  ContextVars follow the request into
async views and across ``sync_to_async`` / ``async_to_sync`` (asgiref copies
the context), and concurrent requests never see each other's record, which a
thread-local cannot promise under ASGI.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ROOT_ROUTE",
    "UNMATCHED_ROUTE",
    "DBStats",
    "RequestRecord",
    "activate",
    "current",
    "deactivate",
    "get_request_id",
    "hide_queries",
    "queries_hidden",
]

#: ``http.route`` for requests that matched no URL pattern (404s): every
#: capability that labels by route uses this one value.
UNMATCHED_ROUTE = "<unmatched>"
#: ``http.route`` of the site root (``path("", ...)``, whose template is "").
ROOT_ROUTE = "/"


class DBStats:
    """Database statistics of one request, filled by the query monitor.

    Defined in the core so every reader (log line, metrics, Sentry,
    Server-Timing) shares one type without importing the query monitor.
    ``by_alias`` maps an alias to ``[count, seconds]``.
    """

    __slots__ = ("by_alias", "count", "duration", "n_plus_one", "slow_queries")

    # QueryStats.__init__ sets these fields itself (no super() call): keep both in step.
    def __init__(self) -> None:
        self.count = 0
        self.duration = 0.0
        self.by_alias: dict[str, list[float]] = {}
        self.n_plus_one = 0
        self.slow_queries = 0


class RequestRecord:
    """What opskit knows about one request (or one monitored task).

    Capabilities extend it rather than timing the request again:
    ``db`` is filled by the query monitor, ``extra`` carries small
    per-capability values (rate-limit outcome, trace ids, ...).
    """

    __slots__ = (
        "request_id",
        "start",
        "end",
        "method",
        "path",
        "route",
        "view",
        "user_id",
        "client_address",
        "client_proven",
        "status",
        "error_type",
        "response_size",
        "db",
        "trace_id",
        "span_id",
        "extra",
    )

    def __init__(self, request_id: str, method: str = "", path: str = "") -> None:
        self.request_id = request_id
        self.start = time.perf_counter()
        self.end: float | None = None
        self.method = method
        self.path = path
        self.route: str | None = None
        self.view: str | None = None
        self.user_id: str | None = None
        self.client_address: str | None = None
        #: Whether the peer chain proves ``client_address`` (privilege needs it).
        self.client_proven = False
        self.status: int | None = None
        self.error_type: str | None = None
        self.response_size: int | None = None
        self.db: DBStats | None = None
        self.trace_id: str | None = None
        self.span_id: str | None = None
        self.extra: dict[str, Any] = {}

    @property
    def duration(self) -> float:
        """Seconds since the start; fixed once the request has finished."""
        end = self.end if self.end is not None else time.perf_counter()
        return end - self.start

    def finish(self) -> float:
        """Stop the clock (idempotent) and return the duration in seconds."""
        if self.end is None:
            self.end = time.perf_counter()
        return self.end - self.start

    def __repr__(self) -> str:
        return f"<RequestRecord {self.request_id} {self.method} {self.route or self.path}>"


#: The running request's (or task's) record: the one the capabilities read.
record_var: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "opskit_request", default=None
)


def current() -> RequestRecord | None:
    """The record of the request (or monitored task) running in this context."""
    return record_var.get()


def get_request_id() -> str | None:
    """The current request id, or ``None`` outside a request."""
    record = record_var.get()
    return record.request_id if record is not None else None


def activate(record: RequestRecord) -> contextvars.Token[RequestRecord | None]:
    return record_var.set(record)


def deactivate(token: contextvars.Token[RequestRecord | None]) -> None:
    try:
        record_var.reset(token)
    except ValueError:
        # Reset from another context (an async generator finishing on a
        # different task): clearing is the safe equivalent.
        record_var.set(None)


def hide_queries() -> contextvars.Token[RequestRecord | None] | None:
    """Keep the queries that follow out of the current record until :func:`deactivate`.

    For work that runs in the request's context but is not the application's:
    sentry-sdk building an event (``repr()`` of a QuerySet in a frame's
    variables, a lazy user) and opskit's own reports.  The record stays
    current, as a copy without ``db`` (ids, route and tags read the same),
    so the query hook's cost is unchanged.  ``None`` when there is nothing
    to hide.
    """
    record = record_var.get()
    if record is None or record.db is None:
        return None
    shadow = copy.copy(record)
    shadow.db = None
    return record_var.set(shadow)


@contextlib.contextmanager
def queries_hidden() -> Iterator[None]:
    """:func:`hide_queries` for a block."""
    token = hide_queries()
    try:
        yield
    finally:
        if token is not None:
            deactivate(token)
