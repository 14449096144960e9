from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("opskit.urls")),
    path("sync/<int:pk>/", views.sync_view, name="sync"),
    path("async/<int:pk>/", views.async_view, name="async"),
    path("async-thread/", views.async_thread_view, name="async-thread"),
    path("record/", views.record_view, name="record"),
    path("boom/", views.boom_view, name="boom"),
    path("stream/", views.stream_view, name="stream"),
    path("astream/", views.async_stream_view, name="astream"),
    path("sleep/", views.async_sleep_view, name="sleep"),
    path("login-user/", views.login_user_view, name="login-user"),
    path("auser/", views.async_auser_view, name="auser"),
    path("direct-user/", views.async_direct_user_view, name="direct-user"),
    path("odd-user/", views.odd_user_view, name="odd-user"),
    path("db-query/", views.db_query_view, name="db-query"),
]
