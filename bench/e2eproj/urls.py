from __future__ import annotations

from django.conf import settings
from django.urls import URLPattern, URLResolver, include, path

from . import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("json/", views.json_view),
    path("ajson/", views.ajson_view),
    path("pid", views.pid_view),
]
# Each stack's own endpoints go after the project's, as their docs show
# (opskit: ``urlpatterns += [path("", include("opskit.urls"))]``;
# django-prometheus: ``path('', include('django_prometheus.urls'))`` at the end
# of the list).  Put first, every request of the site tried each endpoint's
# pattern before its own (about 6 µs in-process for opskit's seven); opskit's
# probes do not need to come first, the middleware answers them before routing.
if settings.BENCH_E2E_VARIANT == "opskit":
    urlpatterns.append(path("", include("opskit.urls")))
elif settings.BENCH_E2E_VARIANT == "anchors":
    urlpatterns.append(path("", include("django_prometheus.urls")))
