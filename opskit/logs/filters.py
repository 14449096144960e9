"""Put the request id on every log record written during a request."""

from __future__ import annotations

import logging

from ..context import RequestRecord, current

__all__ = ["RequestIdFilter"]


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` (and ``trace_id`` / ``span_id``, ``parent_request_id`` when known).

    Attach it to *handlers*, not loggers: a handler filter sees every record
    that reaches the handler, whichever logger wrote it, while a logger
    filter only sees records logged on that exact logger.  The id comes from
    the request's context variable, so it is right in sync views, async views
    and code run through ``sync_to_async`` (asgiref copies the context), and
    concurrent requests never see each other's id.  Threads you start
    yourself do not inherit the context: use ``contextvars.copy_context()``.

    Django logs a 4xx/5xx response (``django.request``) after the middleware
    has returned; those records carry the request itself, and its id is
    taken from there.  Outside a request ``request_id`` is set to ``default`` (``None``) so
    ``%(request_id)s`` in a text format never fails.  A record that already
    carries a ``request_id`` (the request line, a finished streaming
    response) keeps it.  Never filters anything out.
    """

    def __init__(self, name: str = "", default: str | None = None) -> None:
        super().__init__(name)
        self.default = default

    def filter(self, record: logging.LogRecord) -> bool:
        attrs = record.__dict__
        if "request_id" in attrs:
            return True
        rec = current()
        if rec is None:
            rec = _from_request(attrs.get("request"))
            if rec is None:
                attrs["request_id"] = self.default
                return True
        attrs["request_id"] = rec.request_id
        extra = rec.extra
        if extra:  # a task run: the request that started its chain
            parent = extra.get("parent_request_id")
            if parent is not None:
                attrs.setdefault("parent_request_id", parent)
        if rec.trace_id is not None:
            attrs.setdefault("trace_id", rec.trace_id)
            attrs.setdefault("span_id", rec.span_id)
        return True


def _from_request(request: object) -> RequestRecord | None:
    if request is None:
        return None
    try:
        rec = getattr(request, "opskit", None)
    except Exception:
        return None
    return rec if isinstance(rec, RequestRecord) else None
