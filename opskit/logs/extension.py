"""The request log line: one JSON record per request, written when it is complete.

Runs last among the extensions (``request_finished``), so the query
monitor's statistics and every other capability's values are on the record.
Everything that depends only on settings is computed once per settings load
(the pipeline is rebuilt on reload); per request it builds one small dict and
hands one record to the logger, skipping ``findCaller``'s stack walk.

The exception of a failed request is logged once: Django's ``django.request``
logger writes its traceback (with the request id, through
:class:`~opskit.logs.RequestIdFilter`) and this line carries only
``error.type``, so a pipeline joins the two on ``request_id``.
"""

from __future__ import annotations

import logging
import math
import os
import random
import sys
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..conf import REDACTED, get_settings
from ..context import UNMATCHED_ROUTE, activate, deactivate
from ..extensions import Extension, report_internal_error
from ..redact import get_redactor
from .direct import plain_handlers, write_direct
from .formatter import REQUEST_LINE_MARK

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    from ..context import RequestRecord

__all__ = [
    "DEFAULT_METRICS_PATH",
    "RecordMaker",
    "RequestLogExtension",
    "add_db_and_trace",
    "millis",
    "skip_paths",
]

#: Added to the health paths when ``SKIP_PATHS`` is ``None``.
DEFAULT_METRICS_PATH = "/metrics"
#: Longest ``user.id`` written.
MAX_USER_ID_LENGTH = 128

_INFO, _WARNING, _ERROR = logging.INFO, logging.WARNING, logging.ERROR

#: The request line's message: ``GET /api/posts/ 200 11.4 ms``.
MESSAGE = "%s %s %s %.1f ms"


def millis(seconds: float) -> float:
    """``seconds`` in milliseconds to 2 decimals: ``round(seconds * 1000, 2)``.

    Without ``round``'s trip through a decimal string (dtoa, a formatted
    buffer, strtod), about a quarter of its cost, twice per request line.
    Rounding the hundredths of a millisecond up at .5 gives the same double
    as ``round`` except exactly halfway, where ``round`` picks the even one
    (no difference in a million random durations from 0.1 µs to 1,000 s).
    """
    if 0.0 < seconds < 1e9:
        return int(seconds * 100_000.0 + 0.5) / 100.0
    return 0.0 if seconds == 0.0 else round(seconds * 1000.0, 2)


def add_db_and_trace(fields: dict[str, Any], record: RequestRecord) -> None:
    """The query totals and trace ids of a request or task run, when known."""
    db = record.db
    if db is not None:
        fields["db.query_count"] = db.count
        fields["db.duration_ms"] = millis(db.duration)
    if record.trace_id is not None:
        fields["trace_id"] = record.trace_id
        fields["span_id"] = record.span_id


class RecordMaker:
    """The request line's ``LogRecord`` for a fraction of ``LogRecord()``'s price.

    ``LogRecord.__init__`` spends most of its time on values that are the
    same for every request line of a process: the file and module names of
    its (empty) path, the level name, the process name and the process id,
    a ``getpid`` system call on every line.  Those come from a record the
    real class built once per logger and level (again after a fork); each
    line gets its own time, thread and asyncio task, as ``LogRecord`` sets
    them.  A project's own record factory (``logging.setLogRecordFactory``)
    is always called instead.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def make(
        self, level: int, msg: str, args: tuple[Any, ...], fields: dict[str, Any]
    ) -> logging.LogRecord:
        if logging.getLogRecordFactory() is not logging.LogRecord:
            rec = self.logger.makeRecord(self.logger.name, level, "", 0, msg, args, None)
            # Its own attributes (a tenant, an environment) are not known
            # here: marked unusable, the formatter takes its general path.
            rec.__dict__.update(fields)
            rec.__dict__[REQUEST_LINE_MARK] = (-1, -1)
            return rec
        hit = _templates.get((self.logger.name, level))
        if hit is None:
            hit = _template(self.logger.name, level)
        template, started = hit
        attrs = template.copy()
        ns = time.time_ns()
        created = ns / 1e9
        msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
        if msecs == 999.0 and int(created) != ns // 1_000_000_000:
            msecs = 0.0  # ``created`` rounded up to the next second
        attrs["created"] = created
        attrs["msecs"] = msecs
        attrs["relativeCreated"] = (created - started) * 1000.0
        if attrs["thread"] is not None:
            attrs["thread"] = threading.get_ident()
            attrs["threadName"] = threading.current_thread().name
        if "taskName" in attrs and getattr(logging, "logAsyncioTasks", False):
            attrs["taskName"] = _task_name()
        attrs["msg"] = msg
        attrs["args"] = args
        first = len(attrs)
        attrs.update(fields)
        attrs[REQUEST_LINE_MARK] = (first, len(attrs) + 1)
        rec = _new_record(logging.LogRecord)
        rec.__dict__ = attrs
        return rec


#: (logger name, level) -> (a real record's attributes, logging's start time).
_templates: dict[tuple[str, int], tuple[dict[str, Any], float]] = {}
_new_record = object.__new__


def _template(name: str, level: int) -> tuple[dict[str, Any], float]:
    rec = logging.LogRecord(name, level, "", 0, "", (), None)
    # ``relativeCreated`` counts from logging's (private) start time.
    hit = (dict(rec.__dict__), rec.created - rec.relativeCreated / 1000.0)
    _templates[(name, level)] = hit
    return hit


if hasattr(os, "register_at_fork"):  # a worker has its own pid and process name
    os.register_at_fork(after_in_child=_templates.clear)


def _task_name() -> str | None:
    """The running asyncio task's name, as ``LogRecord`` reports it (3.12+)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        task = asyncio.current_task()
    except Exception:  # no running loop
        return None
    return task.get_name() if task is not None else None


def skip_paths() -> list[str]:
    """The paths that get no request line under the current settings."""
    s = get_settings()
    configured = s.LOGGING.SKIP_PATHS
    if configured is None:
        return [*s.HEALTH.PATHS, DEFAULT_METRICS_PATH]
    return list(configured)


def _meta_key(header: str) -> str:
    key = header.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def _contextual(content: Iterable[bytes], record: RequestRecord) -> Iterator[bytes]:
    # Activate around each step only: a generator has no context of its own,
    # so a value set across a ``yield`` would leak into the server's context.
    it = iter(content)
    while True:
        token = activate(record)
        try:
            chunk = next(it)
        except StopIteration:
            return
        finally:
            deactivate(token)
        yield chunk


async def _acontextual(
    content: AsyncIterable[bytes], record: RequestRecord
) -> AsyncIterator[bytes]:
    it = aiter(content)
    while True:
        token = activate(record)
        try:
            chunk = await anext(it)
        except StopAsyncIteration:
            return
        finally:
            deactivate(token)
        yield chunk


def _to_str(value: object) -> str:
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return type(value).__name__


class RequestLogExtension(Extension):
    """Write the one line per request on ``LOGGING.LOGGER`` (``opskit.request``).

    Levels: 2xx/3xx INFO, 4xx WARNING, 5xx and unhandled exceptions ERROR.
    Probe paths are skipped; with ``SAMPLE_RATE`` < 1 only that share of
    fast INFO lines is kept (errors and slow requests always are).  Request
    bodies, cookies and credentials are never written.
    """

    def __init__(self) -> None:
        s = get_settings()
        ls = s.LOGGING
        self.logger = logging.getLogger(ls.LOGGER or "opskit.request")
        self._records = RecordMaker(self.logger)
        exact: set[str] = set()
        prefixes: list[str] = []
        for p in skip_paths():
            base = p.rstrip("/")
            if not base:
                exact.add("/")
                continue
            exact.add(base)
            prefixes.append(base + "/")
        self._skip_exact = frozenset(exact)
        self._skip_prefixes = tuple(prefixes)
        rate = ls.SAMPLE_RATE
        self._sample = min(max(rate, 0.0), 1.0) if math.isfinite(rate) else 1.0
        threshold = s.SLOW_REQUESTS.THRESHOLD_MS
        self._slow = threshold / 1000.0 if threshold is not None else math.inf
        self._max_path = max(ls.MAX_PATH_LENGTH, 1)
        self._max_header = max(ls.MAX_HEADER_LENGTH, 1)
        self._log_user = ls.LOG_USER_ID
        self._log_client = ls.LOG_CLIENT_ADDRESS
        self._log_query = ls.LOG_QUERY_STRING
        self._log_user_agent = ls.LOG_USER_AGENT
        self._redactor = redactor = get_redactor(
            ls.ALLOW_PARAMS, ls.REDACT_PARAMS, ls.REDACT_HEADERS, REDACTED
        )
        #: (META key, field name, redacted) for each header to log.
        self._headers = tuple(
            (_meta_key(h), f"http.request.header.{h.lower()}", redactor.secret_header(h))
            for h in ls.LOG_HEADERS
        )
        # Whether anything must be read from the request at all.
        self._reads_request = bool(self._log_query or self._log_user_agent or self._headers)

    def process_response(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        """Keep the request's context active while a streaming body is produced.

        The server iterates a streaming response after the middleware has
        returned, outside the request's context: without this, lines logged
        by the view's generator would have no ``request_id``.  File responses
        are left alone (they run no user code, and the server's sendfile
        path needs the file object).
        """
        if response.streaming and getattr(response, "file_to_stream", None) is None:
            content = response.streaming_content  # type: ignore[attr-defined]
            if getattr(response, "is_async", False):
                response.streaming_content = _acontextual(content, record)  # type: ignore[attr-defined]
            else:
                response.streaming_content = _contextual(content, record)  # type: ignore[attr-defined]

    def request_finished(
        self,
        record: RequestRecord,
        request: HttpRequest,
        response: HttpResponseBase | None,
    ) -> None:
        try:
            self._emit(record, request, response)
        except Exception as exc:  # a raising handler, filter or formatter
            report_internal_error("request log line", exc)

    def _emit(
        self,
        record: RequestRecord,
        request: HttpRequest,
        response: HttpResponseBase | None,
    ) -> None:
        path = record.path
        if path in self._skip_exact or path.startswith(self._skip_prefixes):
            return
        status = record.status if response is not None else None
        if status is None:
            status = 500
        end = record.end if record.end is not None else time.perf_counter()
        duration = end - record.start
        if status >= 500:
            level = _ERROR
        elif status >= 400:
            level = _WARNING
        else:
            level = _INFO
            if self._sample < 1.0 and duration < self._slow and random.random() >= self._sample:
                return
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        if len(path) > self._max_path:
            path = path[: self._max_path]
        method = record.method
        route = record.route or UNMATCHED_ROUTE
        fields: dict[str, Any] = {
            "request_id": record.request_id,
            "http.request.method": method,
            "url.path": path,
            "http.route": route,
        }
        if record.view is not None:
            fields["view"] = record.view
        fields["http.response.status_code"] = status
        fields["duration_ms"] = millis(duration)
        if record.response_size is not None:
            fields["http.response.body.size"] = record.response_size
        if self._log_user and record.user_id is not None:
            fields["user.id"] = _to_str(record.user_id)[:MAX_USER_ID_LENGTH]
        if self._log_client and record.client_address is not None:
            fields["client.address"] = record.client_address
        error_type = record.error_type
        if error_type is None and status >= 500:
            error_type = str(status)  # OpenTelemetry: the status code as a string
        if error_type is not None:
            fields["error.type"] = error_type
        add_db_and_trace(fields, record)
        if self._reads_request:
            self._request_fields(fields, request)
        # The message repeats the line's own fields, formatted only when a
        # handler asks (a console, pytest's captured log, a Sentry
        # breadcrumb); opskit's JsonFormatter leaves it out of the JSON.
        args = (method, path, status, duration * 1000.0)
        # Not ``extra=``: a record factory that already adds ``request_id``
        # (common in projects with their own correlation) would make
        # makeRecord raise and lose the line; the request's values win.
        handlers = plain_handlers(logger, level)
        if handlers is not None:
            failed = write_direct(handlers, logger.name, level, fields)
            if failed:  # as ``emit`` does: each handler reports its own error
                rec = self._records.make(level, MESSAGE, args, fields)
                for h in failed:
                    h.handleError(rec)
            return
        rec = self._records.make(level, MESSAGE, args, fields)
        logger.handle(rec)

    def _request_fields(self, fields: dict[str, Any], request: HttpRequest) -> None:
        meta = request.META
        if self._log_query:
            query = meta.get("QUERY_STRING")
            if query and isinstance(query, str):
                fields["url.query"] = self.redact_query(query)
        if self._log_user_agent:
            agent = meta.get("HTTP_USER_AGENT")
            if agent and isinstance(agent, str):
                fields["user_agent.original"] = agent[: self._max_header]
        for key, name, redacted in self._headers:
            value = meta.get(key)
            if value is not None:
                fields[name] = (
                    REDACTED
                    if redacted
                    else self._redactor.header_value(_to_str(value)[: self._max_header])
                )

    def redact_query(self, query: str) -> str:
        """``query`` bounded, each value replaced unless its name is in ALLOW_PARAMS."""
        if len(query) > self._max_path:
            query = query[: self._max_path]
        return self._redactor.query(query)
