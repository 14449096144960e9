"""``@slow_request`` and :class:`SlowRequestMixin`: a view's own threshold.

Where the core middleware runs, they only set the threshold on the record
(one check, one warning); elsewhere they time the view themselves.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .. import context
from ..conf import get_settings
from .extension import THRESHOLD_KEY, global_threshold_ms, report_slow

__all__ = ["SlowRequestMixin", "slow_request"]

F = TypeVar("F", bound=Callable[..., Any])


def _threshold_s(threshold_ms: float | None) -> float:
    if threshold_ms is None:
        threshold_ms = global_threshold_ms()
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
