from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", include("opskit.urls")),
    path("m/sync/<int:pk>/", views.sync_view),
    path("m/async/<int:pk>/", views.async_view),
    path("m/boom/", views.boom_view),
    path("m/aboom/", views.async_boom_view),
    path("m/db/", views.db_view),
    path("m/queries/", views.queries_view),
    path("m/work/<int:pk>/", views.work_view),
    path("m/warm/<int:pk>/", views.work_view),
    path("m/pid/", views.pid_view),
    path("m/hold/", views.hold_view),
    path("m/gate/", views.gate_view),
    path("m/file-gate/", views.file_gate_view),
    path("m/afile-gate/", views.afile_gate_view),
]
