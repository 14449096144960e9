from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from .models import Category, Post, Tag


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "post_count"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Category]:
        return super().get_queryset(request).annotate(_posts=Count("posts"))

    @admin.display(description="posts", ordering="_posts")
    def post_count(self, obj: Any) -> int:
        return int(obj._posts)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "category", "status", "published_at"]
    list_filter = ["status", "category"]
    list_select_related = ["author", "category"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["tags", "category"]
    raw_id_fields = ["author"]
    date_hierarchy = "published_at"
    actions = ["publish"]

    @admin.action(description="Publish the selected posts")
    def publish(self, request: HttpRequest, queryset: QuerySet[Post]) -> None:
        count = sum(post.publish() for post in queryset)
        self.message_user(request, f"{count} post(s) published.")
