"""``path("", include("opskit.urls"))``: health and metrics endpoints."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from .metrics.views import metrics_view

app_name = "opskit"

urlpatterns: list[URLPattern | URLResolver] = [
    # -- health (issue 7) --
    # -- metrics (issue 4) --
    path("metrics", metrics_view, name="metrics"),
]
