"""Signal receivers: the other capabilities' events become metrics here.

Connected once by :func:`connect` (a ``ready`` hook of the capability).  A receiver
runs inside the sender's ``Signal.send``, so it must never raise: failures
are reported quietly and the event is dropped.
"""

from __future__ import annotations

from typing import Any

from .. import signals
from ..context import UNMATCHED_ROUTE, RequestRecord
from ..extensions import report_internal_error
from .definitions import HEALTH_STATUS_VALUES, get_metrics

__all__ = ["connect"]


def on_ratelimit_decided(sender: Any, **kwargs: Any) -> None:
    try:
        m = get_metrics()
        if m is not None:
            labels = m.ratelimit_labels(kwargs.get("scope"), kwargs.get("outcome"))
            m.ratelimit_decisions.labels(*labels).inc()
    except Exception as exc:
        report_internal_error("metrics ratelimit_decided", exc)


def on_health_checked(sender: Any, **kwargs: Any) -> None:
    try:
        m = get_metrics()
        if m is not None:
            check = m.check_label(kwargs.get("check"))
            m.health_status.labels(check).set(
                HEALTH_STATUS_VALUES.get(str(kwargs.get("status")), 0.0)
            )
            duration = kwargs.get("duration")
            if isinstance(duration, (int, float)):
                m.health_duration.labels(check).set(duration)
    except Exception as exc:
        report_internal_error("metrics health_checked", exc)


def on_slow_query(sender: Any, **kwargs: Any) -> None:
    try:
        m = get_metrics()
        if m is not None:
            m.db_slow_queries.labels(m.alias_label(kwargs.get("alias"))).inc()
    except Exception as exc:
        report_internal_error("metrics slow_query", exc)


def on_n_plus_one(sender: Any, **kwargs: Any) -> None:
    try:
        m = get_metrics()
        if m is not None:
            m.db_n_plus_one.labels(m.alias_label(kwargs.get("alias"))).inc()
    except Exception as exc:
        report_internal_error("metrics n_plus_one_detected", exc)


def on_unused_eager_load(sender: Any, **kwargs: Any) -> None:
    try:
        m = get_metrics()
        if m is not None:
            kind = kwargs.get("kind")
            label = kind if kind in ("select_related", "prefetch_related") else "other"
            m.db_unused_eager_loads.labels(label).inc()
    except Exception as exc:
        report_internal_error("metrics unused_eager_load", exc)


def on_slow_request(sender: Any, **kwargs: Any) -> None:
    try:
        m = get_metrics()
        if m is not None:
            record = kwargs.get("record")
            route = record.route if isinstance(record, RequestRecord) else None
            m.slow_requests.labels(m.route_label(route or UNMATCHED_ROUTE)).inc()
    except Exception as exc:
        report_internal_error("metrics slow_request", exc)


def connect() -> None:
    """Connect the receivers (idempotent: fixed ``dispatch_uid``)."""
    signals.ratelimit_decided.connect(on_ratelimit_decided, dispatch_uid="opskit.metrics.rl")
    signals.health_checked.connect(on_health_checked, dispatch_uid="opskit.metrics.health")
    signals.slow_query.connect(on_slow_query, dispatch_uid="opskit.metrics.slow_query")
    signals.n_plus_one_detected.connect(on_n_plus_one, dispatch_uid="opskit.metrics.n_plus_one")
    signals.slow_request_detected.connect(
        on_slow_request, dispatch_uid="opskit.metrics.slow_request"
    )
    signals.unused_eager_load.connect(
        on_unused_eager_load, dispatch_uid="opskit.metrics.unused_eager_load"
    )
