"""``path("", include("opskit.urls"))``: health and metrics endpoints."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from .health import views as health_views
from .metrics.views import metrics_view

app_name = "opskit"

urlpatterns: list[URLPattern | URLResolver] = [
    # -- health (issue 7) --
    path("livez", health_views.live_view, name="health-live"),
    path("readyz", health_views.ready_view, name="health-ready"),
    path("readyz/<str:check>", health_views.ready_view, name="health-ready-check"),
    path("healthz", health_views.ready_view, name="healthz"),
    path("health", health_views.ready_view, name="health"),
    path("startupz", health_views.startup_view, name="health-startup"),
    # -- metrics (issue 4) --
    path("metrics", metrics_view, name="metrics"),
]
