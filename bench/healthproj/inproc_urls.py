"""URLs of the health suite's in-process variants (``bench.inproc``)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def noop(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b'{"status":"pass"}', content_type="application/json")


urlpatterns: list[Any] = [path("noop", noop)]
if apps.is_installed("opskit"):
    urlpatterns.append(path("", include("opskit.urls")))
if apps.is_installed("watchman"):
    urlpatterns.append(path("watchman/", include("watchman.urls")))
if apps.is_installed("health_check"):
    from health_check.views import HealthCheckView

    urlpatterns.append(
        path(
            "ht/",
            HealthCheckView.as_view(
                checks=["health_check.checks.Database", "health_check.checks.Cache"]
            ),
        )
    )
