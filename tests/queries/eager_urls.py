from __future__ import annotations

from django.urls import path

from . import eager_views

urlpatterns = [
    path("eager/", eager_views.eager, name="eager"),
    path("aeager/", eager_views.aeager, name="aeager"),
]
