"""Background tasks: the request's story continues into its Celery tasks.

A task enqueued during a request (or inside another task) carries the
request's id and a W3C ``traceparent`` in its message headers.  Each task
run gets a :class:`~opskit.context.RequestRecord` of its own (its own id,
the enqueuing request's id as ``parent_request_id``), active while the task
runs, so every log line of the task carries both, and the other capabilities
observe the run through :data:`opskit.signals.task_started` /
:data:`~opskit.signals.task_finished`: the query monitor counts its queries
and reports N+1 patterns under the task's name, metrics record its duration
and queue wait, Sentry tags its errors, and the log writes one line per run.

Celery is optional (the ``celery`` extra); without it :func:`connect` does
nothing.
"""

from __future__ import annotations

from ..capability import Capability

__all__ = ["connect"]


def connect() -> None:
    """READY hook: connect to Celery's signals when Celery is installed and enabled."""
    from ..conf import get_settings

    if not get_settings().TASKS.ENABLED:
        return
    try:
        import celery  # noqa: F401
    except ImportError:
        return
    from .receivers import connect_celery

    connect_celery()


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="tasks",
    section="TASKS",
    ready=("opskit.tasks.connect",),
)
