"""The finishing check: one WARNING and one signal per slow request."""

from __future__ import annotations

import logging
from typing import Any

from .. import context, signals
from ..conf import get_settings
from ..extensions import Extension, report_internal_error

__all__ = [
    "SLOW_KEY",
    "THRESHOLD_KEY",
    "SlowRequestExtension",
    "global_threshold_ms",
    "report_slow",
]

#: ``record.extra`` key: the threshold (seconds) the finishing check uses.
THRESHOLD_KEY = "slow_threshold"
#: ``record.extra`` key set to ``True`` when the request was reported slow.
SLOW_KEY = "slow"


def global_threshold_ms() -> float | None:
    return get_settings().SLOW_REQUESTS.THRESHOLD_MS


def report_slow(
    record: context.RequestRecord | None,
    duration: float,
    threshold: float,
    request: Any = None,
) -> None:
    """Log the one WARNING and send ``signals.slow_request_detected``; never raise."""
    try:
        settings = get_settings().SLOW_REQUESTS
        route = None
        method = None
        status = None
        request_id = None
        db: dict[str, Any] | None = None
        if record is not None:
            record.extra[SLOW_KEY] = True
            route = record.route or record.view
            method = record.method or None
            status = record.status
            request_id = record.request_id
            stats = record.db
            if stats is not None:
                db = {
                    "count": stats.count,
                    "duration_ms": round(stats.duration * 1000.0, 3),
                    "n_plus_one": stats.n_plus_one,
                    "slow_queries": stats.slow_queries,
                }
                slowest = getattr(stats, "slowest_query", None)
                if callable(slowest):
                    db["slowest"] = slowest()
        if route is None and request is not None:
            match = getattr(request, "resolver_match", None)
            route = getattr(match, "route", None) or getattr(request, "path_info", None)
            method = method or getattr(request, "method", None)
        queries = f"{db['count']} queries in {db['duration_ms']:.1f} ms" if db else "queries n/a"
        logging.getLogger(settings.LOGGER).warning(
            "slow request %s %s: %.0f ms (threshold %.0f ms), %s",
            method or "-",
            route or "-",
            duration * 1000.0,
            threshold * 1000.0,
            queries,
            extra={
                "event": "slow_request",
                "duration_ms": round(duration * 1000.0, 3),
                "threshold_ms": round(threshold * 1000.0, 3),
                "route": route,
                "method": method,
                "status": status,
                "request_id": request_id,
                "db": db,
            },
        )
    except Exception as exc:
        report_internal_error("slow request warning", exc)
    signals.send(
        signals.slow_request_detected,
        SlowRequestExtension,
        threshold=threshold,
        duration=duration,
        record=record,
    )


class SlowRequestExtension(Extension):
    """Check every request's duration against its threshold when it finishes."""

    def __init__(self) -> None:
        ms = global_threshold_ms()
        self.threshold = ms / 1000.0 if ms is not None and ms > 0 else None

    def request_started(self, record: context.RequestRecord, request: Any) -> None:
        # The key's presence tells @slow_request that this check will run.
        record.extra[THRESHOLD_KEY] = self.threshold

    def request_finished(self, record: context.RequestRecord, request: Any, response: Any) -> None:
        threshold = record.extra.get(THRESHOLD_KEY)
        if threshold is None:
            return
        duration = record.duration
        if duration >= threshold:
            report_slow(record, duration, threshold, request)
