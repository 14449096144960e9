from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("json/", views.json_view),
    path("ajson/", views.ajson_view),
    path("pid", views.pid_view),
]
# Each stack's own endpoints come first, as their docs tell a project to add them.
if settings.BENCH_E2E_VARIANT == "opskit":
    urlpatterns.insert(0, path("", include("opskit.urls")))
elif settings.BENCH_E2E_VARIANT == "anchors":
    urlpatterns.insert(0, path("", include("django_prometheus.urls")))
