"""Rate limiting on Redis: GCRA in one Lua script, one round trip per decision.

Public API::

    from opskit.ratelimit import ratelimit, RateLimitMixin, decide, adecide

    @ratelimit(rate="10/s;1000/h", key="user_or_ip")
    def search(request): ...

    decision = decide("login:alice", "5/15m", strict=True)

See ``docs/ratelimit.md``.  Importing this package opens no connection and
reads no settings.
"""

from __future__ import annotations

from ..capability import Capability
from .core import Decision, Limiter, LimitState, adecide, decide
from .decorators import RateLimitMixin, ratelimit
from .options import LimitOptions
from .rates import Rate, parse_rates

__all__ = [
    "Decision",
    "LimitOptions",
    "LimitState",
    "Limiter",
    "Rate",
    "RateLimitMixin",
    "adecide",
    "decide",
    "parse_rates",
    "ratelimit",
]


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="ratelimit",
    section="RATELIMIT",
    checks=("opskit.ratelimit.checks.register_checks",),
)
