from __future__ import annotations

from django.urls import path

from . import drf_views

urlpatterns = [path("drf/books/", drf_views.BookList.as_view(), name="drf-books")]
