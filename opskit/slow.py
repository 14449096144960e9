"""Slow requests: one WARNING per request over its threshold.

A request is measured once: where the core middleware runs, the check reads
``record.duration`` when the request finishes, after the query monitor has
closed its statistics, so the warning carries the query summary.
``@slow_request(threshold_ms=...)`` (and :class:`SlowRequestMixin` for
class-based views) only sets the threshold for that view on the record; the
global ``THRESHOLD_MS`` applies to every other view.  Either way there is one
check, hence one warning.  Where the middleware is not running, the
decorator times the view itself.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.checks import Error, Warning

from . import context, signals
from .capability import Capability
from .conf import get_settings
from .extensions import Extension, report_internal_error

__all__ = ["SlowRequestExtension", "SlowRequestMixin", "log_slow_requests", "slow_request"]

F = TypeVar("F", bound=Callable[..., Any])

#: ``record.extra`` key: the threshold (seconds) the finishing check uses.
THRESHOLD_KEY = "slow_threshold"
#: ``record.extra`` key set to ``True`` when the request was reported slow.
SLOW_KEY = "slow"


def _global_threshold_ms() -> float | None:
    return get_settings().SLOW_REQUESTS.THRESHOLD_MS


def report_slow(
    record: context.RequestRecord | None,
    duration: float,
    threshold: float,
    request: Any = None,
) -> None:
    """Log the one WARNING and send ``signals.slow_request``; never raise."""
    try:
        settings = get_settings().SLOW_REQUESTS
        route = None
        method = None
        status = None
        request_id = None
        db: dict[str, Any] | None = None
        if record is not None:
            record.extra[SLOW_KEY] = True
            route = record.route or record.view
            method = record.method or None
            status = record.status
            request_id = record.request_id
            stats = record.db
            if stats is not None:
                db = {
                    "count": stats.count,
                    "duration_ms": round(stats.duration * 1000.0, 3),
                    "n_plus_one": stats.n_plus_one,
                    "slow_queries": stats.slow_queries,
                }
                slowest = getattr(stats, "slowest_query", None)
                if callable(slowest):
                    db["slowest"] = slowest()
        if route is None and request is not None:
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None) or getattr(request, "path_info", None)
            method = method or getattr(request, "method", None)
        queries = f"{db['count']} queries in {db['duration_ms']:.1f} ms" if db else "queries n/a"
        logging.getLogger(settings.LOGGER).warning(
            "slow request %s %s: %.0f ms (threshold %.0f ms), %s",
            method or "-",
            route or "-",
            duration * 1000.0,
            threshold * 1000.0,
            queries,
            extra={
                "event": "slow_request",
                "duration_ms": round(duration * 1000.0, 3),
                "threshold_ms": round(threshold * 1000.0, 3),
                "route": route,
                "method": method,
                "status": status,
                "request_id": request_id,
                "db": db,
            },
        )
    except Exception as exc:
        report_internal_error("slow request warning", exc)
    signals.send(
        signals.slow_request,
        SlowRequestExtension,
        threshold=threshold,
        duration=duration,
        record=record,
    )


class SlowRequestExtension(Extension):
    """Check every request's duration against its threshold when it finishes."""

    def __init__(self) -> None:
        ms = _global_threshold_ms()
        self.threshold = ms / 1000.0 if ms is not None and ms > 0 else None

    def request_started(self, record: context.RequestRecord, request: Any) -> None:
        # The key's presence tells @slow_request that this check will run.
        record.extra[THRESHOLD_KEY] = self.threshold

    def request_finished(self, record: context.RequestRecord, request: Any, response: Any) -> None:
        threshold = record.extra.get(THRESHOLD_KEY)
        if threshold is None:
            return
        duration = record.duration
        if duration >= threshold:
            report_slow(record, duration, threshold, request)


# -- the decorator -----------------------------------------------------------


def _threshold_s(threshold_ms: float | None) -> float:
    if threshold_ms is None:
        threshold_ms = _global_threshold_ms()
    if threshold_ms is None or threshold_ms <= 0:
        threshold_ms = 1000.0
    return threshold_ms / 1000.0


def _delegate(threshold_ms: float | None) -> bool | None:
    """Hand the view's threshold to the middleware's check if it will run.

    Returns ``True`` when delegated, ``False`` when the caller must time the
    view itself, ``None`` when slow requests are disabled.
    """
    if not get_settings().SLOW_REQUESTS.ENABLED:
        return None
    record = context.current()
    if record is not None and THRESHOLD_KEY in record.extra:
        record.extra[THRESHOLD_KEY] = _threshold_s(threshold_ms)
        return True
    return False


def _check_self(request: Any, start: float, threshold_ms: float | None) -> None:
    duration = time.perf_counter() - start
    threshold = _threshold_s(threshold_ms)
    if duration >= threshold:
        report_slow(context.current(), duration, threshold, request)


async def _await_timed(awaitable: Any, request: Any, start: float, ms: float | None) -> Any:
    try:
        return await awaitable
    finally:
        _check_self(request, start, ms)


def _request_of(args: tuple[Any, ...]) -> Any:
    # (request, ...) for a function view; (self, request, ...) for a method.
    for arg in args[:2]:
        if hasattr(arg, "META"):
            return arg
    return None


def _decorate(view: F, threshold_ms: float | None) -> F:
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _delegate(threshold_ms) is not False:
                return await view(*args, **kwargs)
            start = time.perf_counter()
            try:
                return await view(*args, **kwargs)
            finally:
                _check_self(_request_of(args), start, threshold_ms)

        markcoroutinefunction(async_wrapper)
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _delegate(threshold_ms) is not False:
            return view(*args, **kwargs)
        start = time.perf_counter()
        try:
            result = view(*args, **kwargs)
        except BaseException:
            _check_self(_request_of(args), start, threshold_ms)
            raise
        if inspect.isawaitable(result):
            # A sync wrapper around an async handler (an async class-based
            # view's dispatch): time until the coroutine completes.
            return _await_timed(result, _request_of(args), start, threshold_ms)
        _check_self(_request_of(args), start, threshold_ms)
        return result

    return wrapper  # type: ignore[return-value]


@overload
def slow_request(view: F, *, threshold_ms: float | None = None) -> F: ...
@overload
def slow_request(view: None = None, *, threshold_ms: float | None = None) -> Callable[[F], F]: ...
def slow_request(view: F | None = None, *, threshold_ms: float | None = None) -> Any:
    """Warn when this view's request takes ``threshold_ms`` or longer.

    ``@slow_request`` uses ``SLOW_REQUESTS.THRESHOLD_MS``;
    ``@slow_request(threshold_ms=200)`` sets the view's own.  Sync and async
    function views; for class-based views use :class:`SlowRequestMixin` or
    ``method_decorator(slow_request(...), name="dispatch")``.
    """
    if view is not None:
        return _decorate(view, threshold_ms)
    return lambda v: _decorate(v, threshold_ms)


#: The seed project's name for the decorator.
log_slow_requests = slow_request


class SlowRequestMixin:
    """Class-based views: ``slow_request_threshold_ms`` (``None``: the global one)."""

    slow_request_threshold_ms: float | None = None

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        threshold_ms = self.slow_request_threshold_ms
        parent = super().dispatch  # type: ignore[misc]
        if _delegate(threshold_ms) is not False:
            return parent(request, *args, **kwargs)
        start = time.perf_counter()
        try:
            result = parent(request, *args, **kwargs)
        except BaseException:
            _check_self(request, start, threshold_ms)
            raise
        if inspect.isawaitable(result):
            return _await_timed(result, request, start, threshold_ms)
        _check_self(request, start, threshold_ms)
        return result


# -- system checks -------------------------------------------------------------


def check_slow_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    s = get_settings().SLOW_REQUESTS
    errors: list[Any] = []
    ms = s.THRESHOLD_MS
    if ms is not None and ms <= 0:
        errors.append(
            Error(
                f"OPSKIT SLOW_REQUESTS.THRESHOLD_MS must be positive, not {ms!r}.",
                hint="Use None to turn the global check off.",
                id="opskit.E451",
            )
        )
    elif ms is not None and ms < 10:
        errors.append(
            Warning(
                f"OPSKIT SLOW_REQUESTS.THRESHOLD_MS is {ms!r} ms: nearly every request "
                "will log a slow-request warning.",
                hint="Typical thresholds are 500-2000 ms.",
                id="opskit.W451",
            )
        )
    if not s.LOGGER or not s.LOGGER.strip():
        errors.append(
            Error(
                "OPSKIT SLOW_REQUESTS.LOGGER is empty.",
                hint="Use a logger name such as 'opskit.slow'.",
                id="opskit.E452",
            )
        )
    return errors


def register_checks(register: Callable[..., Any]) -> None:
    register(check_slow_settings, "opskit")


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="slow",
    section="SLOW_REQUESTS",
    checks=("opskit.slow.register_checks",),
    extension="opskit.slow.SlowRequestExtension",
    extension_order=30,
)
