from __future__ import annotations

import os
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def noop(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"status":"pass"}', content_type="application/json")


def pid(request: HttpRequest) -> HttpResponse:
    """The worker's pid, held 20 ms so concurrent warm-up requests reach every worker."""
    time.sleep(0.02)
    return HttpResponse(str(os.getpid()).encode(), content_type="text/plain")


urlpatterns: list[Any] = [path("noop", noop), path("pid", pid)]

if settings.VARIANT == "opskit":
    urlpatterns.append(path("", include("opskit.urls")))
elif settings.VARIANT == "health_check":
    from health_check.views import HealthCheckView

    _checks: list[Any] = [
        "health_check.checks.Database",
        ("health_check.checks.Cache", {"alias": "default"}),
    ]
    if settings.HUNG_PORT:
        _checks.append(("health_check.checks.Database", {"alias": "hung"}))
    urlpatterns.append(path("ht/", HealthCheckView.as_view(checks=_checks)))
elif settings.VARIANT in ("watchman", "watchman_defaults"):
    urlpatterns.append(path("watchman/", include("watchman.urls")))
