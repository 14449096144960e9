"""The one ``execute_wrapper`` on every database connection.

Installed on each connection of every alias: the ones that exist when the
app is ready and each new one through ``connection_created`` (connections
are per thread, and ``sync_to_async`` runs the ORM on another thread's
connection).  The wrapper finds its statistics through the request record's
context variable, which follows the request across ``sync_to_async``, so
sync views, async views and concurrent requests are all counted right.
Outside a request or monitored scope it is one context-variable read.
After the view raised, the request's statistics are an ``ErrorPathStats``
(see :mod:`.stats`), reached through the same call; ordinary requests never
take that branch.

It is inserted *first* in ``execute_wrappers``: Django's own
``connection.execute_wrapper()`` context manager removes the *last* entry on
exit, so a connection opened inside such a block must not put opskit there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.db import connections
from django.db.backends.signals import connection_created

from ..context import record_var
from ..extensions import report_internal_error
from .stats import QueryStats, on_request_exception

__all__ = ["install", "install_on", "query_hook"]

_get = record_var.get
_clock = time.perf_counter


def query_hook(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Time the statement and account it to the current scope, if any."""
    record = _get()
    if record is None:
        return execute(sql, params, many, context)
    stats = record.db
    if stats.__class__ is not QueryStats and not isinstance(stats, QueryStats):
        return execute(sql, params, many, context)
    start = _clock()
    try:
        return execute(sql, params, many, context)
    finally:
        try:
            stats.add(sql, _clock() - start, context["connection"].alias, many)  # type: ignore[union-attr]
        except Exception as exc:  # never let accounting replace the query's outcome
            report_internal_error("query accounting", exc)


def install_on(connection: Any) -> None:
    """Add the hook to one connection wrapper (idempotent)."""
    wrappers = connection.execute_wrappers
    if query_hook not in wrappers:
        wrappers.insert(0, query_hook)


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    install_on(connection)


def install() -> None:
    """READY hook: the hook on existing connections and on every new one."""
    connection_created.connect(_on_connection_created, dispatch_uid="opskit.queries.hook")
    got_request_exception.connect(on_request_exception, dispatch_uid="opskit.queries.error")
    for conn in connections.all(initialized_only=True):
        install_on(conn)
    from ..conf import get_settings
    from .eager import set_enabled

    set_enabled(get_settings().QUERIES.UNUSED_EAGER_LOADS)
