"""Carry the request's story across process boundaries: tasks and outgoing HTTP.

A child of a request (a Celery task it enqueues, an HTTP call it makes, a
task that task enqueues in turn) carries one *correlation id*: the id of the
request that started the chain.  So a task's retries, and the tasks and calls
it makes, all name the same request, and a search for that request's
``X-Request-ID`` finds every line of the whole chain.  A W3C ``traceparent``
travels beside it when the work unit has a trace id.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .conf import get_settings
from .context import RequestRecord, current

if TYPE_CHECKING:
    from requests.adapters import HTTPAdapter

__all__ = [
    "PARENT_KEY",
    "correlation_id",
    "httpx_event_hooks",
    "outgoing_headers",
    "requests_adapter",
    "traceparent",
]

#: ``record.extra`` key of the id of the request that started the chain.
PARENT_KEY = "parent_request_id"

_HEX = frozenset("0123456789abcdef")


def correlation_id(record: RequestRecord | None = None) -> str | None:
    """The id children of ``record`` (default: the current one) carry."""
    if record is None:
        record = current()
        if record is None:
            return None
    parent = record.extra.get(PARENT_KEY)
    return parent if isinstance(parent, str) else record.request_id


def traceparent(record: RequestRecord | None = None) -> str | None:
    """A W3C ``traceparent`` for a child of ``record``, when it has a trace.

    The record's own trace (an incoming ``traceparent`` or Sentry's) wins;
    otherwise a generated 32-hex request id is a valid trace id and is used
    as one, so the request id and the trace id of a chain agree.
    """
    if record is None:
        record = current()
        if record is None:
            return None
    trace_id = record.trace_id
    if trace_id is None:
        rid = correlation_id(record) or ""
        if len(rid) != 32 or not _HEX.issuperset(rid) or rid == "0" * 32:
            return None
        trace_id = rid
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


def outgoing_headers(record: RequestRecord | None = None) -> dict[str, str]:
    """Headers for a call made on behalf of the current request or task.

    ``{}`` outside a request or task, so it is safe to call anywhere.
    """
    if record is None:
        record = current()
        if record is None:
            return {}
    headers = {get_settings().REQUEST_ID_HEADER: correlation_id(record) or record.request_id}
    parent = traceparent(record)
    if parent is not None:
        headers["traceparent"] = parent
    return headers


def _add_missing(target: Any) -> None:
    for name, value in outgoing_headers().items():
        if name not in target:
            target[name] = value


def requests_adapter(**kwargs: Any) -> HTTPAdapter:
    """A ``requests`` transport adapter that adds the correlation headers.

    ``session.mount("https://", requests_adapter())`` (and ``"http://"``):
    every request the session sends during a request or task carries
    ``X-Request-ID`` and ``traceparent``; headers you set yourself win.
    ``kwargs`` go to ``HTTPAdapter`` (pool sizes, retries).
    """
    from requests.adapters import HTTPAdapter

    class CorrelatingAdapter(HTTPAdapter):
        def add_headers(self, request: Any, **kw: Any) -> None:
            super().add_headers(request, **kw)
            _add_missing(request.headers)

    return CorrelatingAdapter(**kwargs)


def _httpx_request(request: Any) -> None:
    _add_missing(request.headers)


async def _ahttpx_request(request: Any) -> None:
    _add_missing(request.headers)


def httpx_event_hooks(*, asynchronous: bool = False) -> dict[str, list[Any]]:
    """``event_hooks`` for ``httpx.Client`` (or ``AsyncClient`` with ``asynchronous=True``).

    ``httpx.Client(event_hooks=httpx_event_hooks())``.  The hook runs in the
    caller's context, so it reads the request or task that makes the call.
    """
    return {"request": [_ahttpx_request if asynchronous else _httpx_request]}
