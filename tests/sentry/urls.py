from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("sentry/boom/<int:pk>/", views.boom, name="boom"),
    path("sentry/aboom/<int:pk>/", views.aboom, name="aboom"),
    path("sentry/message/", views.message, name="message"),
    path("sentry/amessage/", views.amessage, name="amessage"),
    path("sentry/ok/<int:pk>/", views.ok, name="ok"),
    path("sentry/login-boom/", views.login_boom, name="login-boom"),
    path("healthz", views.ok, name="healthz"),
    path("metrics", views.ok, name="metrics"),
]
