"""Decisions: one script call per request for every limit of a view.

A :class:`Limiter` is built once per decorated view (rates parsed, key
function resolved, script arguments pre-formatted), so a decision costs a
key hash, one ``EVALSHA`` and a few attribute reads.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.http import HttpRequest
from django.utils.functional import LazyObject, empty

from .. import context
from ..conf import RateLimitSettings, get_settings, on_reload
from ..signals import ratelimit_decided, send
from ..throttle import Throttle
from .backends import Backend, Breaker, CacheBackend, RedisBackend, Unavailable
from .keys import KeySpec, allow_listed, request_user, resolve_key
from .options import DEFAULTS, ExemptFunc, LimitOptions
from .rates import Rate, parse_rates

__all__ = [
    "DECLARED",
    "Decision",
    "LimitState",
    "Limiter",
    "adecide",
    "decide",
    "get_backend",
]

logger = logging.getLogger("opskit.ratelimit")

#: ``(where, rate, key)`` for every rate declared on a view, mixin or
#: throttle, filled when they are defined; system checks validate it.
DECLARED: list[tuple[str, Any, Any]] = []


@dataclass(slots=True)
class LimitState:
    """One limit's usage after a decision."""

    rate: Rate
    remaining: int
    #: Seconds until the whole quota is available again.
    reset: float
    #: Seconds until this limit admits the request (0 when it did).
    retry_after: float


@dataclass(slots=True)
class Decision:
    """The answer for one request (also ``request.ratelimit``).

    ``allowed`` says whether the request may proceed; ``limited`` whether a
    limit was exceeded (true in shadow mode too, where ``allowed`` stays
    true).  ``outcome`` is ``"allowed"``, ``"limited"``, ``"shadow"``,
    ``"error"`` (backend unavailable) or ``"exempt"``.
    """

    allowed: bool
    limited: bool
    outcome: str
    scope: str
    key: str | None
    limits: tuple[LimitState, ...] = ()
    retry_after: float = 0.0
    fail_open: bool = True
    #: The backend's clock at the decision (Unix seconds; Redis server time).
    at: float = 0.0
    #: Why the backend could not decide (``"TimeoutError"``, ``"breaker open"``).
    error: str | None = None

    @property
    def remaining(self) -> int | None:
        return min((s.remaining for s in self.limits), default=None)

    @property
    def usage(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "outcome": self.outcome,
            "limits": [
                {
                    "rate": str(s.rate),
                    "remaining": s.remaining,
                    "reset": s.reset,
                    "retry_after": s.retry_after,
                }
                for s in self.limits
            ],
        }


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    """The configured backend, one per process (rebuilt when settings change)."""
    s = get_settings().RATELIMIT
    breaker = Breaker(
        f"{s.BACKEND}:{s.CACHE}", s.BREAKER_THRESHOLD, s.BREAKER_COOLDOWN, s.SOCKET_TIMEOUT
    )
    if s.BACKEND == "cache":
        return CacheBackend(s.CACHE, breaker)
    return RedisBackend(s.CACHE, s.SOCKET_TIMEOUT, breaker, s.TOPOLOGY)


def _close_backend() -> None:
    if get_backend.cache_info().currsize:
        backend = get_backend()
        if isinstance(backend, RedisBackend):
            backend.close()
    get_backend.cache_clear()


on_reload(_close_backend)

# -- "a client became limited" log events, throttled per key -----------------

limited_log = Throttle(max_keys=10_000)


def key_digest(ident: str) -> str:
    """A short, stable stand-in for a rate-limit key in logs (never the key itself).

    Keys hold client addresses, user ids and API keys (``header:X-Api-Key``):
    the first 12 hex digits of their SHA-256 tell one client from another
    in the logs without disclosing any of them.
    """
    return hashlib.sha256(ident.encode(errors="surrogatepass")).hexdigest()[:12]


def _log_limited(decision: Decision, request: HttpRequest | None, key_type: str) -> None:
    if not limited_log.due((decision.scope, decision.key), max(decision.retry_after, 1.0)):
        return
    record = context.current()
    worst = max(decision.limits, key=lambda st: st.retry_after, default=None)
    digest = key_digest(decision.key or "")
    logger.warning(
        "rate limit exceeded: scope=%s key=%s:%s rate=%s retry_after=%.1fs%s",
        decision.scope,
        key_type,
        digest,
        worst.rate if worst else "-",
        decision.retry_after,
        " (shadow)" if decision.outcome == "shadow" else "",
        extra={
            "event": "ratelimit.limited",
            "scope": decision.scope,
            "key_type": key_type,
            "key_hash": digest,
            "rate": str(worst.rate) if worst else None,
            "retry_after": round(decision.retry_after, 3),
            "shadow": decision.outcome == "shadow",
            "request_id": record.request_id if record is not None else None,
            "path": getattr(request, "path", None),
        },
    )


def _report(decision: Decision, request: HttpRequest | None, key_type: str) -> None:
    record = context.current()
    if record is not None:
        record.extra["ratelimit"] = {
            "scope": decision.scope,
            "outcome": decision.outcome,
            "remaining": decision.remaining,
        }
    if decision.outcome != "exempt":
        if ratelimit_decided.receivers:
            send(
                ratelimit_decided,
                Limiter,
                scope=decision.scope,
                outcome=decision.outcome,
                record=record,
            )
        if decision.limited:
            _log_limited(decision, request, key_type)


def _burst_list(burst: int | Sequence[int] | None, rates: tuple[Rate, ...]) -> list[int]:
    if burst is None:
        return [r.limit for r in rates]
    if isinstance(burst, int):
        values = [burst] * len(rates)
    else:
        values = [int(b) for b in burst]
        if len(values) != len(rates):
            raise ValueError("burst needs one value per limit")
    if any(b < 1 for b in values):
        raise ValueError("burst must be at least 1")
    return values


class Limiter:
    """The compiled form of one ``@ratelimit(...)`` / mixin / throttle."""

    def __init__(self, rate: str, options: LimitOptions | None = None, **kwargs: Any) -> None:
        """``Limiter(rate, key=..., scope=...)``: the options by keyword, as
        :class:`LimitOptions` names them (an unknown one raises ``TypeError``);
        or ``Limiter(rate, options)`` with them built already.
        """
        if options is None:
            options = LimitOptions(**kwargs)
        elif kwargs:
            raise TypeError("Limiter() takes a LimitOptions or keyword options, not both")
        self.options = options
        self.rates = parse_rates(rate)
        self.rate = rate
        key = options.key
        self.key_func = resolve_key(key)
        self.key_spec = key
        #: What the key is, for logs (the key itself is never logged).
        self.key_type = (
            key if isinstance(key, str) else getattr(key, "__qualname__", type(key).__name__)
        )
        # Plain attributes: most are read on every decision.
        self.scope = options.scope
        methods = options.methods
        self.methods = None if methods is None else frozenset(m.upper() for m in _as_list(methods))
        self.cost = cost = options.cost
        self.strict = strict = options.strict
        self.fail_open = options.fail_open
        self.shadow = options.shadow
        exempt = options.exempt
        if isinstance(exempt, str):
            from django.utils.module_loading import import_string

            exempt = import_string(exempt)
        self.exempt: ExemptFunc | None = exempt  # type: ignore[assignment]
        self.exempt_staff = options.exempt_staff
        self.block = options.block
        bursts = _burst_list(options.burst, self.rates)
        self._suffixes: list[str] = []
        self._args: list[str | int] = [str(cost)]
        for r, b in zip(self.rates, bursts, strict=True):
            if strict:
                self._suffixes.append(f"z{r.limit}:{r.period_us // 1000}")
                self._args += ["z", str(r.period_us), str(r.limit)]
            else:
                interval = max(1, round(r.period_us / r.limit))
                self._suffixes.append(f"g{r.limit}:{r.period_us // 1000}")
                self._args += ["g", str(interval), str(interval * b)]

    # -- the pieces of a decision ---------------------------------------------

    def applies(self, request: HttpRequest) -> bool:
        return self.methods is None or request.method in self.methods

    def _exempt(self, request: HttpRequest, s: RateLimitSettings) -> bool:
        if allow_listed(request):
            return True
        if self.exempt is not None and self.exempt(request):
            return True
        staff = s.EXEMPT_STAFF if self.exempt_staff is None else self.exempt_staff
        if staff:
            user = request_user(request)
            if user is not None and getattr(user, "is_staff", False):
                return True
        return False

    def keys(self, ident: str, prefix: str) -> list[str]:
        digest = hashlib.blake2b(
            f"{self.scope}\0{ident}".encode(errors="surrogatepass"), digest_size=12
        ).hexdigest()
        # One hash tag for every limit of a request: one Redis Cluster slot,
        # so the script may touch them all.  Hashing keeps keys short and
        # keeps addresses and user ids out of Redis.
        base = f"{prefix}:{{{digest}}}:"
        return [base + sfx for sfx in self._suffixes]

    def _prepare(
        self, request_or_key: HttpRequest | str
    ) -> tuple[RateLimitSettings, str | None, Decision | None]:
        """Settings, identity, and the decision when no round trip is needed.

        The decision is ``None`` exactly when Redis must decide.
        """
        s = get_settings().RATELIMIT
        if isinstance(request_or_key, str):
            ident: str = request_or_key
        else:
            if self._exempt(request_or_key, s):
                return s, None, self._exempted(None)
            key = self.key_func(request_or_key)
            if key is None:
                return s, None, self._exempted(None)
            ident = str(key)
        if not s.ENABLED:
            return s, ident, self._exempted(ident)
        return s, ident, None

    def _exempted(self, ident: str | None) -> Decision:
        return Decision(allowed=True, limited=False, outcome="exempt", scope=self.scope, key=ident)

    def _finish(self, s: RateLimitSettings, ident: str, reply: list[int]) -> Decision:
        limits = []
        retry = 0.0
        for i, r in enumerate(self.rates):
            j = 2 + 3 * i
            st = LimitState(r, int(reply[j]), reply[j + 1] / 1e6, reply[j + 2] / 1e6)
            if st.retry_after > retry:
                retry = st.retry_after
            limits.append(st)
        fail_open = s.FAIL_OPEN if self.fail_open is None else self.fail_open
        at = reply[1] / 1e6
        states = tuple(limits)
        if reply[0]:
            allowed, limited, outcome, retry = True, False, "allowed", 0.0
        elif s.SHADOW if self.shadow is None else self.shadow:
            allowed, limited, outcome = True, True, "shadow"
        else:
            allowed, limited, outcome = False, True, "limited"
        return Decision(
            allowed=allowed,
            limited=limited,
            outcome=outcome,
            scope=self.scope,
            key=ident,
            limits=states,
            retry_after=retry,
            fail_open=fail_open,
            at=at,
        )

    def _failed(
        self, s: RateLimitSettings, ident: str, backend: Backend, exc: Unavailable
    ) -> Decision:
        fail_open = s.FAIL_OPEN if self.fail_open is None else self.fail_open
        retry = max(backend.breaker.remaining(), 1.0)
        return Decision(
            allowed=fail_open,
            limited=False,
            outcome="error",
            scope=self.scope,
            key=ident,
            retry_after=retry,
            fail_open=fail_open,
            error=str(exc),
        )

    # -- sync and async entry points -----------------------------------------

    def decide(self, request_or_key: HttpRequest | str) -> Decision:
        """Count this request against every limit, in one round trip."""
        s, ident, early = self._prepare(request_or_key)
        if early is None:
            assert ident is not None
            backend = get_backend()
            try:
                reply = backend.run(self.keys(ident, s.KEY_PREFIX), self._args)
            except Unavailable as exc:
                early = self._failed(s, ident, backend, exc)
            else:
                early = self._finish(s, ident, reply)
        if isinstance(request_or_key, str):
            _report(early, None, "string")
        else:
            _report(early, request_or_key, self.key_type)
        return early

    async def adecide(self, request_or_key: HttpRequest | str) -> Decision:
        """:meth:`decide` without a thread hop.

        ``redis.asyncio`` on a long-lived event loop; on asgiref's one-request
        loop (an async view under WSGI) the process's sync pool, so no
        connection is left behind with the loop (``backends`` module docs).
        """
        if not isinstance(request_or_key, str):
            lazy = request_or_key.__dict__.get("user")
            if isinstance(lazy, LazyObject) and lazy._wrapped is empty:
                await _resolve_user(request_or_key)
        s, ident, early = self._prepare(request_or_key)
        if early is None:
            assert ident is not None
            backend = get_backend()
            try:
                reply = await backend.arun(self.keys(ident, s.KEY_PREFIX), self._args)
            except Unavailable as exc:
                early = self._failed(s, ident, backend, exc)
            else:
                early = self._finish(s, ident, reply)
        if isinstance(request_or_key, str):
            _report(early, None, "string")
        else:
            _report(early, request_or_key, self.key_type)
        return early


async def _resolve_user(request: HttpRequest) -> None:
    """Load a lazy ``request.user`` the async way (Django 5+ ``auser``)."""
    lazy = request.__dict__.get("user")
    if not isinstance(lazy, LazyObject) or lazy._wrapped is not empty:
        return  # no user, or already loaded: no attribute lookup that raises
    auser = getattr(request, "auser", None)
    if auser is not None:
        request.user = await auser()


def _as_list(methods: Sequence[str] | str) -> list[str]:
    if isinstance(methods, str):
        return [methods]
    return list(methods)


def class_limiter(
    cls: type[Any], extend: Callable[[LimitOptions], LimitOptions] | None = None
) -> Limiter:
    """The limiter a class declares (``RateLimitMixin``, the DRF throttle), built once.

    Reads the options both declare as class attributes; ``extend`` adds the
    class's own.  The limiter is kept on the class itself, so a subclass
    declares its own.
    """
    limiter: Limiter | None = cls.__dict__.get("_opskit_limiter")
    if limiter is None:
        options = LimitOptions(
            key=cls.key,
            scope=cls.scope or f"{cls.__module__}.{cls.__qualname__}",
            cost=cls.cost,
            strict=cls.strict,
            fail_open=cls.fail_open,
            shadow=cls.shadow,
            exempt_staff=cls.exempt_staff,
        )
        limiter = Limiter(cls.rate, options if extend is None else extend(options))
        cls._opskit_limiter = limiter
    return limiter


@lru_cache(maxsize=1024)
def _limiter(rate: str, options: LimitOptions) -> Limiter:
    """The limiter of :func:`decide`/:func:`adecide` for these arguments, built once."""
    return Limiter(rate, options)


def decide(
    request_or_key: HttpRequest | str,
    rate: str,
    *,
    key: KeySpec = DEFAULTS.key,
    scope: str = DEFAULTS.scope,
    cost: int = DEFAULTS.cost,
    burst: int | Sequence[int] | None = DEFAULTS.burst,
    strict: bool = DEFAULTS.strict,
    fail_open: bool | None = DEFAULTS.fail_open,
    shadow: bool | None = DEFAULTS.shadow,
) -> Decision:
    """Count one request (or a raw key such as ``"login:alice"``) and decide.

    With a request, exemptions and ``key`` apply; with a string, the string
    is the identity.  The limiter for each argument set is built once.
    """
    options = LimitOptions(
        key=key,
        scope=scope,
        cost=cost,
        burst=burst,
        strict=strict,
        fail_open=fail_open,
        shadow=shadow,
    )
    return _limiter(rate, options).decide(request_or_key)


async def adecide(
    request_or_key: HttpRequest | str,
    rate: str,
    *,
    key: KeySpec = DEFAULTS.key,
    scope: str = DEFAULTS.scope,
    cost: int = DEFAULTS.cost,
    burst: int | Sequence[int] | None = DEFAULTS.burst,
    strict: bool = DEFAULTS.strict,
    fail_open: bool | None = DEFAULTS.fail_open,
    shadow: bool | None = DEFAULTS.shadow,
) -> Decision:
    """The async twin of :func:`decide` (no thread hop; see :meth:`Limiter.adecide`)."""
    options = LimitOptions(
        key=key,
        scope=scope,
        cost=cost,
        burst=burst,
        strict=strict,
        fail_open=fail_open,
        shadow=shadow,
    )
    return await _limiter(rate, options).adecide(request_or_key)


def retry_seconds(value: float) -> int:
    """``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(value))
