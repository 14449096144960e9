"""The demo's URLs plus the rehearsal's rate-limited endpoints.

``/rehearsal/limited/`` admits ``RATE_LIMIT`` requests per hour per client
address, so "exactly the configured count across all workers" is a plain
count.  ``/rehearsal/open/`` asks the same limiter (a generous limit) on
every request: under a Redis fault it shows fail-open and the limiter's
timeout without the cost of a page.  Both answer the worker's pid, so the
rehearsal can tell that several workers shared one limit.
"""

from __future__ import annotations

import os

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


limited = ratelimit(rate=f"{settings.RATE_LIMIT}/h", key="ip", scope="rehearsal-limited")(_answer)
open_ = ratelimit(rate="1000000/h", key="ip", scope="rehearsal-open")(_answer)

urlpatterns: list[URLPattern | URLResolver] = [
    path("rehearsal/limited/", limited, name="rehearsal-limited"),
    path("rehearsal/open/", open_, name="rehearsal-open"),
    *demo_urlpatterns,
]
