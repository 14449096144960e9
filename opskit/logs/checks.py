"""System checks of the request log line (ids ``opskit.E1xx`` / ``W1xx``).

* ``opskit.E101`` ``LOGGING.LOGGER`` is empty.
* ``opskit.E102`` ``LOGGING.SAMPLE_RATE`` is outside 0..1.
* ``opskit.E103`` ``MAX_PATH_LENGTH`` or ``MAX_HEADER_LENGTH`` is below 16.
* ``opskit.W101`` the request logger writes nowhere (no handler, or levels above INFO).
* ``opskit.W102`` ``REDACT_HEADERS`` lacks a credential header opskit redacts by default.
* ``opskit.W103`` a ``SKIP_PATHS`` entry does not start with ``/`` (it never matches).
* ``opskit.W104`` (deploy) a stdlib rotating file handler is configured: it loses
  lines when several worker processes write and rotate the same files.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from ..conf import LoggingSettings, get_settings

__all__ = ["check_logging", "check_rotating_handlers", "register_checks"]

#: Headers that must stay on the deny-list (W102 when removed).
CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie", "set-cookie")


def _writes_anywhere(logger: logging.Logger) -> bool:
    """Whether an INFO record of ``logger`` reaches a handler that keeps it."""
    if not logger.isEnabledFor(logging.INFO) or logger.disabled:
        return False
    current: logging.Logger | None = logger
    while current is not None:
        if any(h.level <= logging.INFO for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False  # only logging.lastResort, which drops INFO


def check_logging(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    s = get_settings()
    ls = s.LOGGING
    if not ls.ENABLED:
        return []
    errors: list[CheckMessage] = []
    if not ls.LOGGER.strip():
        errors.append(
            Error(
                "OPSKIT LOGGING.LOGGER is empty.",
                hint=f"Use a logger name such as {LoggingSettings.LOGGER!r}.",
                id="opskit.E101",
            )
        )
    if not (math.isfinite(ls.SAMPLE_RATE) and 0.0 <= ls.SAMPLE_RATE <= 1.0):
        errors.append(
            Error(
                f"OPSKIT LOGGING.SAMPLE_RATE is {ls.SAMPLE_RATE!r}; it must be between 0 and 1.",
                hint="1.0 keeps every line; 0.1 keeps a tenth of fast successful requests.",
                id="opskit.E102",
            )
        )
    for key in ("MAX_PATH_LENGTH", "MAX_HEADER_LENGTH"):
        if getattr(ls, key) < 16:
            errors.append(
                Error(
                    f"OPSKIT LOGGING.{key} is {getattr(ls, key)}; it must be at least 16.",
                    id="opskit.E103",
                )
            )
    if ls.LOGGER.strip() and not _writes_anywhere(logging.getLogger(ls.LOGGER)):
        errors.append(
            Warning(
                f"The request logger {ls.LOGGER!r} writes nowhere: no handler reaches it "
                "that keeps INFO, or its level is above INFO, so successful requests are not "
                "logged.",
                hint="Use LOGGING = opskit.logs.json_logging() or add a handler.",
                id="opskit.W101",
            )
        )
    denied = {h.lower() for h in ls.REDACT_HEADERS}
    missing = [h for h in CREDENTIAL_HEADERS if h not in denied]
    if missing:
        errors.append(
            Warning(
                f"OPSKIT LOGGING.REDACT_HEADERS no longer lists {', '.join(missing)}: "
                "credentials in LOG_HEADERS would be written to the logs.",
                hint="Extend the default list instead of replacing it.",
                id="opskit.W102",
            )
        )
    bad = [p for p in (ls.SKIP_PATHS or []) if not p.startswith("/")]
    if bad:
        errors.append(
            Warning(
                f"OPSKIT LOGGING.SKIP_PATHS entries {bad!r} do not start with '/' and never match.",
                hint="Write paths as the request sees them, e.g. '/livez'.",
                id="opskit.W103",
            )
        )
    return errors


def _all_handlers() -> list[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    seen: dict[int, logging.Handler] = {}
    for lg in loggers:
        for h in lg.handlers:
            seen.setdefault(id(h), h)
    return list(seen.values())


def check_rotating_handlers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W104: the stdlib's rotating handlers, which only one process may use.

    Exact classes only: a subclass may have made rotation safe.  Deploy
    checks, since ``runserver`` is one process and rotates safely.
    """
    from logging.handlers import RotatingFileHandler, TimedRotatingFileHandler

    unsafe = (RotatingFileHandler, TimedRotatingFileHandler)
    files = sorted(
        {str(getattr(h, "baseFilename", "?")) for h in _all_handlers() if type(h) in unsafe}
    )
    if not files:
        return []
    return [
        Warning(
            f"LOGGING writes {', '.join(files)} with the standard library's rotating "
            "handler: with several worker processes each one rotates files the others still "
            "write, and lines are lost.",
            hint=(
                "Use opskit.logs.rotating_file_logging() (ConcurrentRotatingFileHandler, "
                "pip install 'django-opskit[logfiles]'), or WatchedFileHandler with logrotate; "
                "silence this if the files have exactly one writing process."
            ),
            id="opskit.W104",
        )
    ]


def register_checks(register: Callable[..., Any]) -> None:
    register(check_logging, "opskit")
    register(check_rotating_handlers, "opskit", deploy=True)
