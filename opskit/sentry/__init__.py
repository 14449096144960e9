"""Sentry for opskit: configured from ``OPSKIT["SENTRY"]``, cheap by default.

* :func:`setup` (a ready hook) initialises sentry-sdk when a DSN is set.
* Every event carries the ``request_id`` and ``http.route`` tags.
* Probes are never traced; tracing is off unless ``TRACES_SAMPLE_RATE`` > 0.
* The secrets the logs redact are scrubbed from events.
* Slow requests and N+1 patterns can become warning issues.

Importing this package imports neither sentry-sdk nor the settings.
"""

from __future__ import annotations

from ..capability import Capability
from .integration import (
    before_send,
    before_send_transaction,
    custom_repr,
    event_processor,
    is_active,
    setup,
    shutdown,
    traces_sampler,
)

__all__ = [
    "before_send",
    "before_send_transaction",
    "custom_repr",
    "event_processor",
    "is_active",
    "setup",
    "shutdown",
    "traces_sampler",
]


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="sentry",
    section="SENTRY",
    checks=("opskit.sentry.checks.register_checks",),
    ready=("opskit.sentry.setup", "opskit.sentry.tasks.connect"),
    extension="opskit.sentry.extension.SentryExtension",
    extension_order=10,
)
