from __future__ import annotations

from blog import api
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.staticfiles.views import serve as serve_static
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path, re_path

urlpatterns = [
    path("", include("opskit.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("blog.urls")),
    # Demo only: the admin's CSS without collectstatic or a web server in
    # front (production serves STATIC_ROOT with whitenoise or nginx).
    re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """JSON under ``/api/``, the blog's page elsewhere."""
    if request.path.startswith("/api/"):
        return api.not_found(request, exception)
    return render(request, "blog/404.html", status=404)
