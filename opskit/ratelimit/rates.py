"""Rate strings: ``"100/h"``, ``"5/15m"``, ``"10/s"``, ``"1000/d"``, ``"10/s;1000/h"``.

Parsed once, when a view is decorated; a bad string is a ``ValueError`` there
and system check ``opskit.E301`` for rates declared on class attributes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Rate", "parse_rates"]

_UNITS = {
    "ms": 1_000,
    "s": 1_000_000,
    "sec": 1_000_000,
    "second": 1_000_000,
    "m": 60_000_000,
    "min": 60_000_000,
    "minute": 60_000_000,
    "h": 3_600_000_000,
    "hour": 3_600_000_000,
    "d": 86_400_000_000,
    "day": 86_400_000_000,
}
_RATE_RE = re.compile(
    r"\s*(?P<n>\d{1,9})\s*/\s*(?P<mult>\d{1,6})?\s*"
    r"(?P<unit>ms|sec|second|min|minute|hour|day|s|m|h|d)s?\s*",
    re.IGNORECASE,
)
#: One day of windows is the longest sensible quota per key (memory, TTL).
MAX_PERIOD_US = 7 * 86_400_000_000


@dataclass(frozen=True)
class Rate:
    """``limit`` requests per ``period`` seconds."""

    limit: int
    period_us: int
    spec: str

    @property
    def period(self) -> float:
        return self.period_us / 1_000_000

    @property
    def window(self) -> int:
        """The window in whole seconds (at least 1) for headers."""
        return max(1, round(self.period))

    def __str__(self) -> str:
        return self.spec


def parse_rates(value: str) -> tuple[Rate, ...]:
    """Parse ``"10/s;1000/h"``; raise ``ValueError`` with the reason."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"rate must be a non-empty string like '100/h', not {value!r}")
    rates = []
    for part in value.split(";"):
        m = _RATE_RE.fullmatch(part)
        if m is None:
            raise ValueError(
                f"invalid rate {part.strip()!r} in {value!r}: use '<count>/<period>' "
                "such as '100/h', '5/15m', '10/s' or '1000/d'"
            )
        n = int(m["n"])
        period = int(m["mult"] or 1) * _UNITS[m["unit"].lower()]
        if n < 1:
            raise ValueError(f"invalid rate {part.strip()!r}: the count must be at least 1")
        if period > MAX_PERIOD_US:
            raise ValueError(f"invalid rate {part.strip()!r}: the period is over 7 days")
        if period < n:
            raise ValueError(f"invalid rate {part.strip()!r}: more than one per microsecond")
        rates.append(Rate(n, period, f"{n}/{m['mult'] or ''}{m['unit'].lower()}"))
    if len({(r.limit, r.period_us) for r in rates}) != len(rates):
        raise ValueError(f"rate {value!r} repeats a limit")
    if len(rates) > 8:
        raise ValueError(f"rate {value!r} has more than 8 limits")
    return tuple(rates)
