"""The web servers' own loggers, so a request is told once.

runserver, gunicorn and uvicorn each write an access line per request on
their own logger; with opskit's request line that is the same request twice,
once in text.  :func:`server_loggers` gives the ``dictConfig`` entries that
silence those access loggers (or route them into opskit's handlers) and send
the servers' error loggers through the same JSON handlers, so a traceback
of ``gunicorn.error`` or ``uvicorn.error`` is one JSON line with the request
id like any other record.

Each server configures its loggers when it starts, before Django loads the
settings in the worker (gunicorn's ``Logger``, uvicorn's ``log_config``);
``dictConfig`` then removes the handlers a configured logger had, which is
what routes them here.  gunicorn's master process never loads Django: its
own lines ("Booting worker", "Listening at") stay on its stderr.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "ACCESS_LOGGERS",
    "ERROR_LOGGERS",
    "DropServerAccess",
    "StripServerExtras",
    "server_loggers",
]

#: The servers' access loggers (one line per request each).
ACCESS_LOGGERS = ("django.server", "gunicorn.access", "uvicorn.access")
#: Their error loggers (tracebacks, worker and startup messages).
ERROR_LOGGERS = ("gunicorn.error", "uvicorn", "uvicorn.error")

DROP_FILTER = "opskit_drop_server_access"
STRIP_FILTER = "opskit_strip_server_extras"

#: The format of ``http.server``'s access line, which runserver logs on
#: ``django.server`` (``BaseHTTPRequestHandler.log_request``).
_ACCESS_FORMAT = '"%s" %s %s'


class DropServerAccess(logging.Filter):
    """Drop runserver's access lines, keep the rest of ``django.server``.

    ``django.server`` is runserver's access log *and* its error log (an
    HTTPS handshake on the plain-HTTP port, a broken pipe): only records in
    the access line's format are dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != _ACCESS_FORMAT


class StripServerExtras(logging.Filter):
    """Remove uvicorn's ``color_message`` extra: ANSI codes repeating ``message``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def server_loggers(keep_access: bool = False) -> dict[str, Any]:
    """The ``filters`` and ``loggers`` sections for the servers' loggers.

    With ``keep_access`` the access loggers propagate to the root (so their
    lines are JSON too, through the same handlers); otherwise they are
    silenced.  The error loggers always propagate.
    """
    # Silenced: no handler, no propagation, and a level above their INFO
    # lines, so no record is even built.
    access: dict[str, Any] = (
        {"handlers": [], "level": "INFO", "propagate": True}
        if keep_access
        else {"handlers": [], "level": "WARNING", "propagate": False}
    )
    loggers: dict[str, Any] = {
        # runserver: its 4xx/5xx access lines are WARNING/ERROR, so a level
        # cannot tell them from its errors; a filter does.
        "django.server": {
            "handlers": [],
            "level": "INFO",
            "propagate": True,
            **({} if keep_access else {"filters": [DROP_FILTER]}),
        },
        # gunicorn sets propagate=False and its own handlers on both.
        "gunicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        "gunicorn.access": dict(access),
        # uvicorn's LOGGING_CONFIG puts its text handler on "uvicorn"
        # (which "uvicorn.error" propagates to) and on "uvicorn.access".
        # Its protocols skip the access line when that logger has no
        # handler (``hasHandlers()`` at connection setup): silenced, it
        # costs nothing.
        "uvicorn": {"handlers": [], "level": "INFO", "propagate": True},
        "uvicorn.error": {"level": "INFO", "propagate": True, "filters": [STRIP_FILTER]},
        "uvicorn.access": {**access, "filters": [STRIP_FILTER]},
    }
    return {
        "filters": {
            DROP_FILTER: {"()": "opskit.logs.servers.DropServerAccess"},
            STRIP_FILTER: {"()": "opskit.logs.servers.StripServerExtras"},
        },
        "loggers": loggers,
    }
