"""Prometheus metrics: request, database, rate-limit, health, process, system.

Importing this package registers nothing; metrics are created on the
configured registry at first use (:func:`get_metrics`).  See ``docs/metrics.md``.
"""

from __future__ import annotations

from .definitions import METRIC_NAMES, Metrics, get_metrics, is_multiprocess

__all__ = ["METRIC_NAMES", "Metrics", "get_metrics", "is_multiprocess"]
