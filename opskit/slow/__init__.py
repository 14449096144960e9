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

from ..capability import Capability
from ..deprecation import renamed
from .decorators import SlowRequestMixin, slow_request
from .extension import SlowRequestExtension

__all__ = ["SlowRequestExtension", "SlowRequestMixin", "slow_request"]

#: Old names kept for one release, warned about only when used.
__getattr__ = renamed(__name__, {"log_slow_requests": "slow_request"}, globals())


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="slow",
    section="SLOW_REQUESTS",
    checks=("opskit.slow.checks.register_checks",),
    extension="opskit.slow.extension.SlowRequestExtension",
    extension_order=30,
)
