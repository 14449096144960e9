"""``LOGGING`` dictionaries built from opskit's formatter and filter.

Plain functions returning plain ``dictConfig`` dicts, so a project can print,
merge or edit them, and nothing here touches Django settings (``LOGGING`` is
read before apps are ready).
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from .servers import server_loggers

__all__ = [
    "CONCURRENT_HANDLER",
    "json_logging",
    "merge_logging",
    "rotating_file_logging",
]

FORMATTER = "opskit_json"
FILTER = "opskit_request_id"
HANDLER = "opskit_stdout"

_FORMATTER_CFG = {"()": "opskit.logs.JsonFormatter"}
_FILTER_CFG = {"()": "opskit.logs.RequestIdFilter"}

#: The default handler of :func:`rotating_file_logging`: rotation by size
#: that is safe with several processes writing the same files.
CONCURRENT_HANDLER = "concurrent_log_handler.ConcurrentRotatingFileHandler"


def _base(
    level: str,
    handlers: dict[str, dict[str, Any]],
    django_request_level: str,
    server_access_logs: bool,
    formatter: Mapping[str, Any] = _FORMATTER_CFG,
) -> dict[str, Any]:
    names = list(handlers)
    servers = server_loggers(keep_access=server_access_logs)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {FILTER: dict(_FILTER_CFG), **servers["filters"]},
        "formatters": {FORMATTER: dict(formatter)},
        "handlers": handlers,
        "root": {"handlers": names, "level": level},
        "loggers": {
            # The servers' access loggers silenced (or routed here), their
            # error loggers routed here: see opskit.logs.servers.
            **servers["loggers"],
            # Django's default config gives "django" a DEBUG-only console
            # handler and mail_admins; route it through ours instead, once.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            # django.request repeats every 4xx as a WARNING line that the
            # request line already carries; at ERROR it logs each unhandled
            # exception's traceback exactly once, with the request id.
            "django.request": {"level": django_request_level, "propagate": True},
            # The request line is INFO whatever the root level is.
            "opskit.request": {"level": "INFO", "propagate": True},
            # ... and so is the task line (a Celery worker's --loglevel sets root).
            "opskit.task": {"level": "INFO", "propagate": True},
            # Celery's own "Task ... received/succeeded" INFO lines repeat the
            # task line; its warnings and errors (a failure's traceback) stay.
            "celery.app.trace": {"level": "WARNING", "propagate": True},
            "celery.worker.strategy": {"level": "WARNING", "propagate": True},
        },
    }


def json_logging(
    level: str = "INFO",
    *,
    stream: str = "ext://sys.stdout",
    existing: Mapping[str, Any] | None = None,
    django_request_level: str = "ERROR",
    server_access_logs: bool = False,
    format: Literal["json", "console"] = "json",
    colors: bool | None = None,
) -> dict[str, Any]:
    """JSON lines on stdout with the request id on every record.

    ``LOGGING = json_logging()`` is enough for a container (12-factor: the
    platform collects stdout).  ``level`` is the root level; the request line
    (``opskit.request``) is always at INFO.  With ``existing``, the result is
    ``merge_logging(existing, ...)``: your handlers, loggers and levels stay.

    The servers' own access lines (runserver, gunicorn, uvicorn) are
    silenced, since the request line says the same; ``server_access_logs=True``
    keeps them, as JSON through the same handler.  Their error loggers always
    come through, as JSON with the request id.

    ``format="console"`` writes the same fields as one readable line per
    record (:class:`~opskit.logs.console.ConsoleFormatter`), coloured on a
    terminal (``colors`` forces it either way): for development.
    """
    if format not in ("json", "console"):
        raise ValueError(f"json_logging(format={format!r}): use 'json' or 'console'")
    formatter: dict[str, Any] = dict(_FORMATTER_CFG)
    if format == "console":
        formatter = {"()": "opskit.logs.console.ConsoleFormatter", "stream": stream}
        if colors is not None:
            formatter["colors"] = colors
    handlers = {
        HANDLER: {
            "class": "logging.StreamHandler",
            "stream": stream,
            "formatter": FORMATTER,
            "filters": [FILTER],
        }
    }
    config = _base(level, handlers, django_request_level, server_access_logs, formatter)
    return merge_logging(existing, config) if existing is not None else config


def rotating_file_logging(
    directory: str | Path,
    level: str = "INFO",
    *,
    app_file: str = "app.log",
    error_file: str = "error.log",
    max_bytes: int = 10 * 1024 * 1024,
    backup_count: int = 5,
    handler_class: str = CONCURRENT_HANDLER,
    existing: Mapping[str, Any] | None = None,
    django_request_level: str = "ERROR",
    server_access_logs: bool = False,
) -> dict[str, Any]:
    """JSON lines in ``<directory>/app.log`` and, ERROR and above, ``error.log``.

    Files are opened on first write, not when settings load.  The default
    handler, concurrent-log-handler's ``ConcurrentRotatingFileHandler``
    (``pip install 'django-opskit[logfiles]'``), takes a lock file beside each log
    around every write and rotation, so any number of worker processes can
    write and rotate the same files without losing or doubling a line: the
    standard ``RotatingFileHandler`` cannot (each process rotates files the
    others still write).  With external rotation (logrotate) use
    ``handler_class="logging.handlers.WatchedFileHandler"`` (``max_bytes``
    and ``backup_count`` are then ignored).  ``server_access_logs`` as in
    :func:`json_logging`.
    """
    if handler_class == CONCURRENT_HANDLER and (
        importlib.util.find_spec("concurrent_log_handler") is None
    ):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "rotating_file_logging() rotates with concurrent-log-handler, which is not "
            "installed: pip install 'django-opskit[logfiles]' (or pass handler_class="
            "'logging.handlers.WatchedFileHandler' and rotate with logrotate)."
        )
    directory = Path(directory)
    common: dict[str, Any] = {
        "class": handler_class,
        "formatter": FORMATTER,
        "filters": [FILTER],
        "encoding": "utf-8",
        "delay": True,
    }
    if handler_class.endswith("RotatingFileHandler"):
        common.update(maxBytes=max_bytes, backupCount=backup_count)
    handlers = {
        "opskit_app_file": {**common, "filename": str(directory / app_file)},
        "opskit_error_file": {
            **common,
            "filename": str(directory / error_file),
            "level": "ERROR",
        },
    }
    config = _base(level, handlers, django_request_level, server_access_logs)
    return merge_logging(existing, config) if existing is not None else config


def merge_logging(
    existing: Mapping[str, Any] | None,
    addition: Mapping[str, Any],
    *,
    filter_all_handlers: bool = True,
) -> dict[str, Any]:
    """Merge ``addition`` into a copy of ``existing`` (neither is modified).

    Formatters, filters and handlers are added by name (a name ``existing``
    already uses is kept as it is).  A logger (or the root) in both gets the
    union of their handlers and filters; its level and ``propagate`` stay as
    ``existing`` set them.  With ``filter_all_handlers`` the request-id
    filter of ``addition`` is also put on every handler of ``existing``, so
    every record carries ``request_id`` whichever handler writes it.
    """
    out: dict[str, Any] = copy.deepcopy(dict(existing or {}))
    add = copy.deepcopy(dict(addition))
    out.setdefault("version", 1)
    out.setdefault("disable_existing_loggers", add.get("disable_existing_loggers", False))
    for section in ("formatters", "filters", "handlers"):
        target = out.setdefault(section, {})
        for name, cfg in add.get(section, {}).items():
            target.setdefault(name, cfg)
    if filter_all_handlers:
        id_filters = [
            name
            for name, cfg in add.get("filters", {}).items()
            if cfg.get("()") == _FILTER_CFG["()"]
        ]
        existing_handlers = (existing or {}).get("handlers", {})
        for name in existing_handlers:
            handler = out["handlers"][name]
            flist = list(handler.get("filters", []))
            if not any(f in flist for f in id_filters) and id_filters:
                flist.append(id_filters[0])
            handler["filters"] = flist
    loggers = out.setdefault("loggers", {})
    for name, cfg in add.get("loggers", {}).items():
        if name in loggers:
            _merge_logger(loggers[name], cfg)
        else:
            loggers[name] = cfg
    if "root" in add:
        if "root" in out:
            _merge_logger(out["root"], add["root"])
        else:
            out["root"] = add["root"]
    return out


def _merge_logger(target: dict[str, Any], cfg: Mapping[str, Any]) -> None:
    for key in ("handlers", "filters"):
        if key in cfg:
            merged = list(target.get(key, []))
            merged += [h for h in cfg[key] if h not in merged]
            target[key] = merged
    for key, value in cfg.items():
        if key not in ("handlers", "filters"):
            target.setdefault(key, value)
