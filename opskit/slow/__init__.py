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

import warnings
from typing import Any

from ..capability import Capability
from .decorators import SlowRequestMixin, slow_request
from .extension import SlowRequestExtension

__all__ = ["SlowRequestExtension", "SlowRequestMixin", "slow_request"]

#: Names kept for one release: (what to use instead, the object).
_DEPRECATED = {"log_slow_requests": "slow_request"}


def __getattr__(name: str) -> Any:
    """Warn on a deprecated name only when it is used."""
    if name in _DEPRECATED:
        new = _DEPRECATED[name]
        warnings.warn(
            f"opskit.slow.{name} is deprecated; use opskit.slow.{new}.",
            DeprecationWarning,
            stacklevel=2,
        )
        return globals()[new]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="slow",
    section="SLOW_REQUESTS",
    checks=("opskit.slow.checks.register_checks",),
    extension="opskit.slow.extension.SlowRequestExtension",
    extension_order=30,
)
