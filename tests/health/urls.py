"""A project URLconf whose own ``healthz`` view is shadowed (opskit.W501)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def project_healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("project's own health view")


urlpatterns = [
    path("healthz", project_healthz),
    path("", include("tests.urls")),
]
