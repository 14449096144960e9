"""Prometheus metrics: request, database, rate-limit, health, process, system.

Importing this package registers nothing; metrics are created on the
configured registry at first use (:func:`get_metrics`).  See ``docs/metrics.md``.
"""

from __future__ import annotations

from ..capability import Capability
from .definitions import METRIC_NAMES, Metrics, get_metrics, is_multiprocess

__all__ = ["METRIC_NAMES", "Metrics", "get_metrics", "is_multiprocess"]


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="metrics",
    section="METRICS",
    checks=("opskit.metrics.checks.register_checks",),
    ready=("opskit.metrics.receivers.connect", "opskit.metrics.tasks.connect"),
    extension="opskit.metrics.extension.MetricsExtension",
    extension_order=40,
    urls="opskit.metrics.views.url_patterns",
)
