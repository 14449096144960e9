"""The options of one limit, declared once.

``@ratelimit(...)``, ``RateLimitMixin``, the DRF throttle and
:func:`~opskit.ratelimit.decide` each take these options in their own form
(keyword arguments, class attributes); each builds a :class:`LimitOptions`
by keyword and hands it to :class:`~opskit.ratelimit.Limiter`, so an option
added here cannot be dropped on one path, and the defaults live only here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.http import HttpRequest

from .keys import KeySpec

__all__ = ["DEFAULTS", "ExemptFunc", "LimitOptions"]

ExemptFunc = Callable[[HttpRequest], bool]


@dataclass(frozen=True, slots=True)
class LimitOptions:
    """Everything about one limit but its rate; hashable, so it keys caches.

    ``None`` for ``fail_open``, ``shadow`` and ``exempt_staff`` follows the
    ``RATELIMIT`` settings at each decision.  Lists (``methods``, ``burst``)
    are kept as tuples, so equal options compare and hash equal.
    """

    key: KeySpec = "user_or_ip"
    scope: str = "default"
    #: HTTP methods the limit applies to; ``None``: all.
    methods: Sequence[str] | str | None = None
    #: Units one request takes.
    cost: int = 1
    #: The GCRA burst: one int, or one per limit; ``None``: each limit's count.
    burst: int | Sequence[int] | None = None
    #: A sliding log per limit instead of GCRA: never more than the limit in a period.
    strict: bool = False
    fail_open: bool | None = None
    shadow: bool | None = None
    #: A predicate (or its dotted path) that exempts a request.
    exempt: ExemptFunc | str | None = None
    exempt_staff: bool | None = None
    #: ``False``: decide and set ``request.ratelimit``, never answer 429.
    block: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.scope, str) or not self.scope:
            raise ValueError("scope must be a non-empty string")
        if not isinstance(self.cost, int) or self.cost < 0:
            raise ValueError("cost must be a non-negative integer")
        if self.methods is not None and not isinstance(self.methods, (str, tuple)):
            object.__setattr__(self, "methods", tuple(self.methods))
        if self.burst is not None and not isinstance(self.burst, (int, tuple)):
            object.__setattr__(self, "burst", tuple(self.burst))


#: The default of every option: the keyword defaults of ``@ratelimit``,
#: ``decide`` and the class attributes of the mixin and the throttle.
DEFAULTS = LimitOptions()
