from __future__ import annotations

from blog import api
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as serve_static
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path, re_path

from opskit.ratelimit import ratelimit

urlpatterns = [
    path("admin/", admin.site.urls),
    # Password guessing: 5 attempts per address in any 15 minutes (an exact
    # sliding window), counted on POST only; the form itself stays readable.
    # Fail closed: a login limit that switches off when Redis is down (or
    # under the flood it exists for) protects nothing; logins answer 503.
    path(
        "accounts/login/",
        ratelimit(
            rate="5/15m", key="ip", strict=True, methods=["POST"], scope="login", fail_open=False
        )(
            # No PUT: FormView treats it as a POST the limit would not count.
            auth_views.LoginView.as_view(http_method_names=["get", "post", "head", "options"])
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("blog.urls")),
    # Demo only: the admin's CSS without collectstatic or a web server in
    # front (production serves STATIC_ROOT with whitenoise or nginx).
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
    # Last, as the docs show: the middleware answers the probes before any
    # routing, so the site's own pages need not fail a match on each endpoint
    # first.  Routed here: /metrics, and the probe views that also show logged-in
    # staff the details.
    path("", include("opskit.urls")),
]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON under ``/api/``, the blog's page elsewhere."""
    if request.path.startswith("/api/"):
        return api.not_found(request, exception)
    return render(request, "blog/404.html", status=404)
