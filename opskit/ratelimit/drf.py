"""A Django REST framework throttle on opskit's limiter (DRF is optional).

    from opskit.ratelimit.drf import OpsKitThrottle

    class BurstThrottle(OpsKitThrottle):
        rate = "10/s;1000/h"
        key = "user_or_ip"

``allow_request`` is one round trip; DRF answers 429 with ``Retry-After`` from
``wait()``.  A backend failure follows ``FAIL_OPEN``; failing closed answers
503 (:class:`LimiterUnavailable`), not 429.  Importing this module imports DRF;
nothing else in opskit does.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import APIException  # type: ignore[import-untyped]
from rest_framework.throttling import BaseThrottle  # type: ignore[import-untyped]

from .core import DECLARED, Decision, Limiter, class_limiter
from .keys import KeySpec
from .options import DEFAULTS

__all__ = ["LimiterUnavailable", "OpsKitThrottle"]


class LimiterUnavailable(APIException):  # type: ignore[misc]
    """The limiter failed and this throttle fails closed: 503, not 429."""

    status_code = 503
    default_detail = "The rate limiter is unavailable; this endpoint is closed until it returns."
    default_code = "rate_limiter_unavailable"


class OpsKitThrottle(BaseThrottle):  # type: ignore[misc]
    rate: str | None = None
    key: KeySpec = DEFAULTS.key
    scope: str | None = None
    cost: int = DEFAULTS.cost
    strict: bool = DEFAULTS.strict
    fail_open: bool | None = DEFAULTS.fail_open
    shadow: bool | None = DEFAULTS.shadow
    exempt_staff: bool | None = DEFAULTS.exempt_staff

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "rate" in cls.__dict__:
            DECLARED.append((f"{cls.__module__}.{cls.__qualname__}", cls.rate, cls.key))

    @classmethod
    def get_ratelimiter(cls) -> Limiter:
        if cls.rate is None:
            raise ValueError(f"{cls.__qualname__}.rate is not set")
        return class_limiter(cls)

    def allow_request(self, request: Any, view: Any) -> bool:
        django_request = getattr(request, "_request", request)
        # request.user on the DRF request is the authenticated one.
        if getattr(request, "user", None) is not None:
            django_request.user = request.user
        self.decision: Decision = self.get_ratelimiter().decide(django_request)
        django_request.ratelimit = self.decision
        if self.decision.outcome == "error" and not self.decision.allowed:
            raise LimiterUnavailable()
        return self.decision.allowed

    def wait(self) -> float | None:
        decision = getattr(self, "decision", None)
        if decision is None or decision.allowed:
            return None
        return float(max(1.0, decision.retry_after))
