"""Views for the docs tests: one request that fills every field of the log line."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse
from django.urls import include, path


def probe_view(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse({"users": User.objects.count(), "user": str(request.user.pk)})


def failing_check() -> None:
    """A health check that always fails, so the detailed body shows ``output``."""
    raise ConnectionError("docs dependency is down")


def boom_view(request: HttpRequest) -> JsonResponse:
    raise ZeroDivisionError("documented")


urlpatterns = [
    path("", include("opskit.urls")),
    path("docs/probe/<int:pk>/", probe_view, name="docs-probe"),
    path("docs/boom/", boom_view, name="docs-boom"),
]
