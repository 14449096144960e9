"""The request line written straight to plain stream handlers.

``logger.handle(record)`` is most of the request line's cost: a record, the
logger's filter pass, ``callHandlers`` walking the hierarchy, each handler's
filter pass, lock and ``format`` dispatch, then ``emit``.  When the handlers
that would receive the line are the ones ``json_logging()`` configures (a
``StreamHandler`` with opskit's ``JsonFormatter`` and only
``RequestIdFilter``), every one of those steps is known to change nothing:
the line is formatted once from its fields and written under each handler's
own lock, byte for byte what the general path writes.

Anything else on the way (another handler or formatter, a logger filter, a
patched ``Logger.callHandlers`` such as sentry-sdk's logging integration, a
project's record factory, pytest's capture handler) takes the general path.
The check runs on every line, so a logging configuration changed at run time
is honoured on the next request.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .filters import RequestIdFilter
from .formatter import JsonFormatter

__all__ = ["plain_handlers", "write_direct"]

_StreamHandler = logging.StreamHandler
_FileHandler = logging.FileHandler
_Logger, _Handler = logging.Logger, logging.Handler
#: What the general path runs, as the standard library defines it; a
#: replacement (sentry-sdk's logging integration patches
#: ``Logger.callHandlers``) may do more, so it sends lines the general way.
_L_HANDLE, _L_CALL = _Logger.handle, _Logger.callHandlers
_H_HANDLE, _H_FILTER, _H_FORMAT = _Handler.handle, _Handler.filter, _Handler.format
_S_EMIT, _S_FLUSH = _StreamHandler.emit, _StreamHandler.flush
_CAPTURED = (_L_HANDLE, _L_CALL, _H_HANDLE, _H_FILTER, _H_FORMAT, _S_EMIT, _S_FLUSH)


def _stdlib(methods: tuple[Any, ...]) -> bool:
    return all(getattr(m, "__module__", None) == "logging" for m in methods)


#: False if something had patched them before this module was imported.
_CAPTURED_STDLIB = _stdlib(_CAPTURED)


def _untouched() -> bool:
    if (
        _Logger.callHandlers is _L_CALL
        and _Logger.handle is _L_HANDLE
        and _Handler.handle is _H_HANDLE
        and _Handler.filter is _H_FILTER
        and _Handler.format is _H_FORMAT
        and _StreamHandler.emit is _S_EMIT
        and _StreamHandler.flush is _S_FLUSH
    ):
        return _CAPTURED_STDLIB
    # Changed since the import (a patch, or one taken back): look again.
    return _stdlib(
        (
            _Logger.handle,
            _Logger.callHandlers,
            _Handler.handle,
            _Handler.filter,
            _Handler.format,
            _StreamHandler.emit,
            _StreamHandler.flush,
        )
    )


def plain_handlers(logger: logging.Logger, level: int) -> list[logging.StreamHandler[Any]] | None:
    """The handlers the request line reaches, if all of them are plain; else None.

    Plain: exactly ``StreamHandler`` (or ``FileHandler`` with its file open),
    opskit's ``JsonFormatter`` on its direct path, only ``RequestIdFilter``
    filters (a no-op on the request line, which has its id), no logger
    filter, the standard record factory and unpatched ``logging`` methods.
    """
    if logger.filters or logger.disabled or logger.__class__ is not _Logger:
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord or not _untouched():
        return None
    found: list[logging.StreamHandler[Any]] = []
    c: logging.Logger | None = logger
    while c is not None:
        for h in c.handlers:
            if level < h.level:
                continue
            cls = h.__class__
            if cls is not _StreamHandler and (cls is not _FileHandler or h.stream is None):  # type: ignore[attr-defined]
                return None
            fmt = h.formatter
            if (
                fmt is None
                or fmt.__class__ is not JsonFormatter
                or not fmt._direct  # type: ignore[attr-defined]
                or fmt.datefmt
            ):
                return None
            for f in h.filters:
                if f.__class__ is not RequestIdFilter:
                    return None
            found.append(h)  # type: ignore[arg-type]
        if not c.propagate:
            break
        c = c.parent
    return found or None  # none: the general path's lastResort decides


def write_direct(
    handlers: list[logging.StreamHandler[Any]],
    name: str,
    level: int,
    fields: dict[str, Any],
) -> list[logging.StreamHandler[Any]]:
    """Write the line to each handler; return those whose write raised.

    The caller passes those to ``handleError`` with a real record, as
    ``emit`` would.  The time is taken once, as ``LogRecord`` does.
    """
    created = time.time()
    levelname = logging.getLevelName(level)
    failed: list[logging.StreamHandler[Any]] = []
    fmt: Any = None
    line = ""
    for h in handlers:
        if h.formatter is not fmt:  # one line per formatter (usually one handler)
            fmt = h.formatter
            line = fmt.request_line(created, levelname, name, fields)
        # The handler's own lock, as ``Handler.handle`` takes it (without
        # the two method calls of ``acquire()``/``release()``).
        lock = h.lock
        if lock is not None:
            lock.acquire()
        try:
            stream = h.stream
            stream.write(line + h.terminator)
            if hasattr(stream, "flush"):
                stream.flush()
        except RecursionError:
            raise
        except Exception:
            failed.append(h)
        finally:
            if lock is not None:
                lock.release()
    return failed
