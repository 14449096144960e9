from __future__ import annotations

from django.urls import path

from . import api, views

app_name = "blog"

urlpatterns = [
    path("", views.post_list, name="post-list"),
    path("posts/<slug:slug>/", views.post_detail, name="post-detail"),
    path("api/posts/", api.PostCollectionView.as_view(), name="api-posts"),
    path("api/posts/n-plus-one/", api.post_list_naive, name="api-posts-naive"),
    path("api/posts/<int:pk>/", api.post_detail, name="api-post"),
    path("api/posts/<int:pk>/publish/", api.post_publish, name="api-post-publish"),
    path("api/analytics/", api.analytics, name="api-analytics"),
    path("api/search/", api.search, name="api-search"),
]
