from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("api/posts/<int:pk>/", views.post_detail, name="post-detail"),
    path("api/aposts/<int:pk>/", views.apost_detail, name="apost-detail"),
    path("hop/", views.hop, name="hop"),
    path("concurrent/", views.concurrent, name="concurrent"),
    path("sync-concurrent/", views.sync_concurrent, name="sync-concurrent"),
    path("boom/", views.boom, name="boom"),
    path("unavailable/", views.unavailable, name="unavailable"),
    path("teapot/", views.teapot, name="teapot"),
    path("redirect/", views.redirect, name="redirect"),
    path("stream/", views.stream, name="stream"),
    path("astream/", views.astream, name="astream"),
    path("odd-user/", views.odd_user, name="odd-user"),
    path("with-db/", views.with_db, name="with-db"),
    path("login/", views.login_view, name="login"),
    path("whoami/", views.whoami, name="whoami"),
    path("two-queries/", views.two_queries, name="two-queries"),
    path("logging-stream/", views.logging_stream, name="logging-stream"),
    path("alogging-stream/", views.alogging_stream, name="alogging-stream"),
]
