"""``@ratelimit(...)`` for function views and ``RateLimitMixin`` for class-based views."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import wraps
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from ..extensions import report_internal_error
from .core import DECLARED, Decision, Limiter, class_limiter
from .keys import KeySpec
from .options import DEFAULTS, ExemptFunc, LimitOptions
from .responses import add_headers, error_response, limited_response

__all__ = ["RateLimitMixin", "ratelimit"]

V = TypeVar("V", bound=Callable[..., Any])


def _gate(limiter: Limiter, request: HttpRequest, decision: Decision) -> HttpResponseBase | None:
    """The response that replaces the view, if any."""
    _mark(request, decision)
    if not limiter.block:
        return None
    if decision.outcome == "limited":
        return limited_response(request, decision)
    if decision.outcome == "error" and not decision.allowed:
        return error_response(request, decision)
    return None


def _mark(request: HttpRequest, decision: Decision) -> None:
    request.ratelimit = decision  # type: ignore[attr-defined]
    inner = getattr(request, "_request", None)  # a DRF Request wraps Django's
    if inner is not None:
        inner.ratelimit = decision


def _finish(response: Any, decision: Decision) -> None:
    if isinstance(response, HttpResponseBase):
        try:
            add_headers(response, decision)
        except Exception as exc:  # never break the view's response
            report_internal_error("ratelimit headers", exc)


def ratelimit(
    rate: str,
    key: KeySpec = DEFAULTS.key,
    methods: Sequence[str] | str | None = DEFAULTS.methods,
    scope: str | None = None,
    block: bool = DEFAULTS.block,
    cost: int = DEFAULTS.cost,
    burst: int | Sequence[int] | None = DEFAULTS.burst,
    strict: bool = DEFAULTS.strict,
    fail_open: bool | None = DEFAULTS.fail_open,
    shadow: bool | None = DEFAULTS.shadow,
    exempt: ExemptFunc | str | None = DEFAULTS.exempt,
    exempt_staff: bool | None = DEFAULTS.exempt_staff,
) -> Callable[[V], V]:
    """Limit a function view (sync or async; the branch is chosen here, once).

    ``rate`` is ``"100/h"`` or several limits ``"10/s;1000/h"``, decided in
    one round trip and counted only when all pass.  ``scope`` defaults to the
    view's dotted name.  ``block=False`` only sets ``request.ratelimit``.
    Raises ``ValueError`` at decoration for a bad rate, key or burst.
    """

    def decorator(view: V) -> V:
        where = f"{view.__module__}.{view.__qualname__}"
        # Recorded before validation so the system check reports it too.
        DECLARED.append((where, rate, key))
        options = LimitOptions(
            key=key,
            scope=scope or where,
            methods=methods,
            cost=cost,
            burst=burst,
            strict=strict,
            fail_open=fail_open,
            shadow=shadow,
            exempt=exempt,
            exempt_staff=exempt_staff,
            block=block,
        )
        limiter = Limiter(rate, options)

        if iscoroutinefunction(view):

            @wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                if not limiter.applies(request):
                    return await view(request, *args, **kwargs)
                decision = await limiter.adecide(request)
                blocked = _gate(limiter, request, decision)
                if blocked is not None:
                    return blocked
                response = await view(request, *args, **kwargs)
                _finish(response, decision)
                return response

            async_wrapper.ratelimiter = limiter  # type: ignore[attr-defined]
            return async_wrapper  # type: ignore[return-value]

        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not limiter.applies(request):
                return view(request, *args, **kwargs)
            decision = limiter.decide(request)
            blocked = _gate(limiter, request, decision)
            if blocked is not None:
                return blocked
            response = view(request, *args, **kwargs)
            _finish(response, decision)
            return response

        wrapper.ratelimiter = limiter  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorator


class RateLimitMixin:
    """Rate limiting for class-based views, sync or async handlers.

    Set ``rate`` (and optionally ``key``, ``methods``, ``scope``, ``block``,
    ``cost``, ``burst``, ``strict``, ``fail_open``, ``shadow``,
    ``exempt_staff``) on the class.  Put it first in the bases so it runs
    before the view's ``dispatch``.
    """

    rate: str | None = None
    key: KeySpec = DEFAULTS.key
    methods: Sequence[str] | None = DEFAULTS.methods
    scope: str | None = None
    block: bool = DEFAULTS.block
    cost: int = DEFAULTS.cost
    burst: int | Sequence[int] | None = DEFAULTS.burst
    strict: bool = DEFAULTS.strict
    fail_open: bool | None = DEFAULTS.fail_open
    shadow: bool | None = DEFAULTS.shadow
    #: ``None`` follows ``EXEMPT_STAFF``.
    exempt_staff: bool | None = DEFAULTS.exempt_staff

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "rate" in cls.__dict__ or "key" in cls.__dict__:
            # Validated by system check opskit.E301/E302, not here: a bad
            # class attribute must not break the import of a views module.
            DECLARED.append((f"{cls.__module__}.{cls.__qualname__}", cls.rate, cls.key))

    @classmethod
    def get_ratelimiter(cls) -> Limiter | None:
        if cls.rate is None:
            return None
        return class_limiter(cls, cls._own_options)

    @classmethod
    def _own_options(cls, shared: LimitOptions) -> LimitOptions:
        """The options the DRF throttle lacks, added to those both declare."""
        return replace(shared, methods=cls.methods, burst=cls.burst, block=cls.block)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        limiter = self.get_ratelimiter()
        parent = super().dispatch  # type: ignore[misc]
        if limiter is None or not limiter.applies(request):
            return parent(request, *args, **kwargs)
        if getattr(self, "view_is_async", False):
            return self._adispatch(limiter, parent, request, *args, **kwargs)
        decision = limiter.decide(request)
        blocked = _gate(limiter, request, decision)
        if blocked is not None:
            return blocked
        response = parent(request, *args, **kwargs)
        _finish(response, decision)
        return response

    async def _adispatch(
        self,
        limiter: Limiter,
        parent: Callable[..., Any],
        request: HttpRequest,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        decision = await limiter.adecide(request)
        blocked = _gate(limiter, request, decision)
        if blocked is not None:
            return blocked
        response = await parent(request, *args, **kwargs)
        _finish(response, decision)
        return response
