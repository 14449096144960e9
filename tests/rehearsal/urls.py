"""The demo's URLs plus the rehearsal's rate-limited endpoints.

``/rehearsal/limited/`` admits ``RATE_LIMIT`` requests per hour per client
address, so "exactly the configured count across all workers" is a plain
count.  ``/rehearsal/open/`` asks the same limiter (a generous limit) on
every request: under a Redis fault it shows fail-open and the limiter's
timeout without the cost of a page.  Both answer the worker's pid, so the
rehearsal can tell that several workers shared one limit.

``/rehearsal/limited/`` holds its worker for ``LIMITED_WORK`` seconds, as a
real view's work would: a sync gunicorn worker that finishes a request
accepts the next queued connection before its idle siblings wake, so on a
busy machine a view answering in microseconds can be served by one worker
alone, and "shared across workers" would go unmeasured.
"""

from __future__ import annotations

import asyncio
import os
import time

from demo.urls import handler404  # noqa: F401
from demo.urls import urlpatterns as demo_urlpatterns
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path

from opskit.ratelimit import ratelimit


def _answer(request: HttpRequest) -> JsonResponse:
    decision = getattr(request, "ratelimit", None)
    return JsonResponse(
        {
            "pid": os.getpid(),
            "outcome": getattr(decision, "outcome", None),
            "error": getattr(decision, "error", None),
        },
        headers={"X-Worker-Pid": str(os.getpid())},
    )


#: Seconds a /rehearsal/limited/ request holds its worker (see above).
LIMITED_WORK = 0.03


def _work_then_answer(request: HttpRequest) -> JsonResponse:
    time.sleep(LIMITED_WORK)
    return _answer(request)


limited = ratelimit(rate=f"{settings.RATE_LIMIT}/h", key="ip", scope="rehearsal-limited")(
    _work_then_answer
)
open_ = ratelimit(rate="1000000/h", key="ip", scope="rehearsal-open")(_answer)

#: The quota of the rate-limit matrix (issue 14, ``test_6_ratelimit_matrix``):
#: per hour, so a flood of a few seconds earns no refill (one token per 36 s).
MATRIX_LIMIT = 100
#: Seconds a matrix request holds its worker (thread, task), so that a flood
#: reaches every worker instead of the one that wakes first (see above).
MATRIX_WORK = 0.002


def _matrix_sync(request: HttpRequest) -> JsonResponse:
    time.sleep(MATRIX_WORK)
    return _answer(request)


async def _matrix_async(request: HttpRequest) -> JsonResponse:
    # Under WSGI Django runs this in a new event loop per request.
    await asyncio.sleep(MATRIX_WORK)
    return _answer(request)


matrix_sync = ratelimit(rate=f"{MATRIX_LIMIT}/h", key="ip", scope="rehearsal-matrix-sync")(
    _matrix_sync
)
matrix_async = ratelimit(rate=f"{MATRIX_LIMIT}/h", key="ip", scope="rehearsal-matrix-async")(
    _matrix_async
)


def enqueue_two(request: HttpRequest) -> JsonResponse:
    """Two of the demo's real tasks per request (the background-tasks scenario)."""
    from blog.tasks import cleanup_old_drafts, notify_published

    ids = [notify_published.delay(0).id, cleanup_old_drafts.delay(36500).id]
    return JsonResponse({"ids": ids})


urlpatterns: list[URLPattern | URLResolver] = [
    path("rehearsal/enqueue/", enqueue_two, name="rehearsal-enqueue"),
    path("rehearsal/matrix/sync/", matrix_sync, name="rehearsal-matrix-sync"),
    path("rehearsal/matrix/async/", matrix_async, name="rehearsal-matrix-async"),
    path("rehearsal/limited/", limited, name="rehearsal-limited"),
    path("rehearsal/open/", open_, name="rehearsal-open"),
    *demo_urlpatterns,
]
