"""Signals through which capabilities report events without importing each other.

The query monitor, rate limiter, health checks and slow-request check send
these; metrics and Sentry receive them.  A signal with no receiver costs a
dictionary lookup.  Every signal sends ``record`` (the current
:class:`~opskit.context.RequestRecord`, or ``None`` outside a request).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from .deprecation import renamed

__all__ = [
    "health_checked",
    "n_plus_one_detected",
    "ratelimit_decided",
    "send",
    "slow_query",
    "slow_request_detected",
    "task_finished",
    "task_started",
    "unused_eager_load",
]

#: A rate-limit decision. Args: ``scope`` (str), ``outcome`` ("allowed",
#: "limited", "error", "shadow"), ``record``.
ratelimit_decided = Signal()

#: A health check ran. Args: ``check`` (name), ``status`` ("pass", "warn",
#: "fail"), ``duration`` (seconds), ``critical`` (bool), ``record``.
health_checked = Signal()

#: A query over the slow threshold. Args: ``alias``, ``duration`` (seconds),
#: ``fingerprint`` (hex), ``sql`` (sample), ``call_site``, ``record``.
slow_query = Signal()

#: An N+1 pattern in one request or task. Args: ``alias``, ``fingerprint``,
#: ``count``, ``duration`` (seconds in total), ``sql``, ``call_site``,
#: ``record``.
n_plus_one_detected = Signal()

#: A ``select_related`` / ``prefetch_related`` load never read in a request
#: or task (``QUERIES.UNUSED_EAGER_LOADS``). Args: ``kind``
#: ("select_related" or "prefetch_related"), ``model`` ("app.Model"),
#: ``lookup``, ``call_site``, ``record``.
unused_eager_load = Signal()

#: A request over its slow threshold. Args: ``threshold`` (seconds),
#: ``duration`` (seconds), ``record``.  Named apart from the decorator
#: ``opskit.slow.slow_request``; ``slow_request`` is its deprecated old name.
slow_request_detected = Signal()

#: Old names kept for one release, warned about only when used.
__getattr__ = renamed(__name__, {"slow_request": "slow_request_detected"}, globals())


def send(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` to every receiver; never raise.

    ``Signal.send`` stops at the first receiver that raises and raises into
    the sender, in the middle of a request: one broken receiver (a project's
    ``@receiver`` in ``models.py`` is connected before opskit's own in
    ``ready()``) would silence metrics and Sentry for that event.
    ``send_robust`` calls them all and Django logs each failure, with its
    traceback, on ``django.dispatch`` (ERROR), so it is not reported again.
    """
    try:
        signal.send_robust(sender, **kwargs)
    except Exception as exc:  # pragma: no cover - send_robust shields receivers
        from .extensions import report_internal_error

        report_internal_error("signal", exc)


#: A monitored background task run is starting; its record is active.
#: Args: ``record`` (``record.extra["task"]`` holds the task's name, id,
#: queue and parent request id).
task_started = Signal()

#: A monitored background task run has finished (the clock is stopped, the
#: record still active).  Args: ``record``, ``state`` ("succeeded",
#: "failed", "retried", "rejected").
task_finished = Signal()
