"""Scopes outside requests: ``monitor()`` for tasks, and the test helpers' base.

A scope either owns a record (nothing is active: a management command, a
Celery task, a test) or, inside a request or another scope, *observes* the
active statistics: it receives every query too, but the enclosing scope
does the reporting, so nothing is reported twice.  Scopes are also kept in a
context variable, so a request started inside one (the test client in a
test) feeds it as well.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .. import context
from ..conf import get_settings
from ..ids import new_request_id
from . import eager
from .stats import QueryStats

__all__ = ["Scope", "monitor", "new_request_stats"]

F = TypeVar("F", bound=Callable[..., Any])

_outer: contextvars.ContextVar[tuple[QueryStats, ...]] = contextvars.ContextVar(
    "opskit_query_scopes", default=()
)
#: What each entered scope must undo on exit, per context: one ``Scope``
#: object (a module-level ``monitor("job")``) may be entered by several
#: threads or tasks at once, so this cannot live on the instance.
_entered: contextvars.ContextVar[tuple[tuple[Scope, tuple[Any, ...]], ...]] = (
    contextvars.ContextVar("opskit_query_scope_entries", default=())
)


def new_request_stats(record: context.RequestRecord) -> QueryStats:
    """Statistics for a request, fed also to enclosing scopes (test helpers)."""
    stats = QueryStats(record)
    outer = _outer.get()
    if outer:
        stats.observers.extend(outer)
    return stats


class Scope:
    """Collect (and optionally report) the queries of a block of code."""

    def __init__(
        self,
        name: str | None = None,
        *,
        report: bool = True,
        capture_first: bool = False,
        threshold: int | None = None,
    ) -> None:
        self.name = name
        self._report = report
        self._capture_first = capture_first
        self._threshold = threshold
        #: The statistics of the latest entry (of this context's, inside it).
        self.stats: QueryStats | None = None
        # Entries not yet exited, for an exit in another context than its
        # enter (an async generator finalised elsewhere).
        self._open: list[tuple[Any, ...]] = []

    def __enter__(self) -> QueryStats:
        parent = context.current()
        parent_stats = parent.db if parent is not None else None
        owned = not isinstance(parent_stats, QueryStats)
        record: context.RequestRecord | None = None
        if owned:
            # Inside a request whose monitor is off, keep its request id so
            # log lines still correlate.
            request_id = parent.request_id if parent is not None else new_request_id()
            record = context.RequestRecord(request_id, path=self.name or "")
            record.view = self.name
        stats = QueryStats(
            record,
            report=self._report and owned,
            capture_first=self._capture_first,
            threshold=self._threshold,
            name=self.name,
        )
        token = None
        eager_state = None
        if owned:
            assert record is not None
            record.db = stats
            token = context.activate(record)
            if stats.report and get_settings().QUERIES.UNUSED_EAGER_LOADS:
                eager.set_enabled(True)  # settings changed since ready()
                eager_state = eager.begin()
        else:
            assert isinstance(parent_stats, QueryStats)
            parent_stats.observers.append(stats)
        outer_token = _outer.set((*_outer.get(), stats))
        state = (stats, token, parent_stats if not owned else None, outer_token, eager_state)
        _entered.set((*_entered.get(), (self, state)))
        self._open.append(state)
        self.stats = stats
        return stats

    def _state(self, remove: bool) -> tuple[Any, ...]:
        """This scope's innermost entry in the running context (else its latest)."""
        entries = _entered.get()
        for i in range(len(entries) - 1, -1, -1):
            if entries[i][0] is self:
                state = entries[i][1]
                if remove:
                    _entered.set(entries[:i] + entries[i + 1 :])
                break
        else:
            state = self._open[-1]
        if remove:
            self._open[:] = [s for s in self._open if s is not state]
        return state

    def entered_stats(self) -> QueryStats:
        """The statistics of this scope's innermost entry in the running context."""
        stats: QueryStats = self._state(remove=False)[0]
        return stats

    def __exit__(self, *exc: object) -> None:
        stats, token, parent_stats, outer_token, eager_state = self._state(remove=True)
        if eager_state is not None:
            eager.report(eager.end(eager_state), stats.record)
        try:
            _outer.reset(outer_token)
        except ValueError:
            _outer.set(())
        if parent_stats is not None:
            try:
                parent_stats.observers.remove(stats)
            except ValueError:
                pass
        if token is not None:
            if stats.record is not None:
                stats.record.finish()
            context.deactivate(token)
        stats.close()

    async def __aenter__(self) -> QueryStats:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def _clone(self, name: str | None) -> Scope:
        """A fresh scope with the same options (one per decorated call)."""
        return Scope(
            name,
            report=self._report,
            capture_first=self._capture_first,
            threshold=self._threshold,
        )

    def __call__(self, func: F) -> F:
        """Use the scope as a decorator (a fresh scope per call)."""
        name = self.name or getattr(func, "__qualname__", None)
        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kw: Any) -> Any:
                with self._clone(name):
                    return await func(*args, **kw)

            markcoroutinefunction(async_wrapper)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            with self._clone(name):
                return func(*args, **kw)

        return wrapper  # type: ignore[return-value]


@overload
def monitor(name: F) -> F: ...
@overload
def monitor(name: str | None = None) -> Scope: ...
def monitor(name: str | F | None = None) -> Scope | F:
    """Monitor the queries of a command, task or script like a request.

    As a context manager (``with monitor("nightly-import") as stats:``, or
    ``async with``) it yields the :class:`QueryStats`; as a decorator
    (``@monitor`` or ``@monitor("name")``) it wraps sync and async
    functions.  Slow queries and N+1 patterns are logged and signalled the
    same way as in a request, with the scope's own request id.
    """
    if callable(name):
        return Scope(None)(name)
    return Scope(name)
