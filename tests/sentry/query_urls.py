from __future__ import annotations

from django.urls import path

from . import query_views

urlpatterns = [
    path("q/n1/", query_views.n_plus_one, name="q-n1"),
    path("q/qs-error/", query_views.error_next_to_queryset, name="q-qs-error"),
    path("q/repr-error/", query_views.error_next_to_querying_repr, name="q-repr-error"),
]
