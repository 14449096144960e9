"""The blog: categories, tags and posts written by users.

``Post.objects.published()`` and ``.with_related()`` are the two querysets
every page and the efficient API use; the naive API endpoint deliberately
does without them so the query monitor has an N+1 to report.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PostQuerySet(models.QuerySet["Post"]):
    def published(self) -> PostQuerySet:
        """Visible to everyone, newest first."""
        return self.filter(status=Post.Status.PUBLISHED).order_by("-published_at", "-id")

    def with_related(self) -> PostQuerySet:
        """Author and category joined, tags in one extra query: no N+1 in lists."""
        return self.select_related("author", "category").prefetch_related("tags")

    def search(self, text: str) -> PostQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(models.Q(title__icontains=text) | models.Q(content__icontains=text))

    def visible_to(self, user: Any) -> PostQuerySet:
        """Published posts, plus the user's own drafts (all drafts for staff)."""
        if getattr(user, "is_staff", False):
            return self
        if getattr(user, "is_authenticated", False):
            return self.filter(models.Q(status=Post.Status.PUBLISHED) | models.Q(author=user))
        return self.filter(status=Post.Status.PUBLISHED)


class Post(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    content = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posts"
    )
    category = models.ForeignKey(
        Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="posts"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="posts")
    # A default rather than auto_now_add, so seed_blog can write a history.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The home page and the API: published posts, newest first.
            models.Index(fields=["status", "-published_at"], name="blog_post_status_pub_idx"),
            # An author's posts by status (analytics, "my drafts").
            models.Index(fields=["author", "status"], name="blog_post_author_status_idx"),
            models.Index(fields=["-created_at"], name="blog_post_created_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Publishing from anywhere (admin, API, shell) stamps the date once.
        if self.status == self.Status.PUBLISHED and self.published_at is None:
            self.published_at = timezone.now()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "published_at"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("blog:post-detail", kwargs={"slug": self.slug})

    def publish(self) -> bool:
        """Publish the post; return False when it already was."""
        if self.status == self.Status.PUBLISHED:
            return False
        self.status = self.Status.PUBLISHED
        if self.published_at is None:
            self.published_at = timezone.now()
        self.save(update_fields=["status", "published_at", "updated_at"])
        return True

    @property
    def excerpt(self) -> str:
        text = self.content.strip().split("\n\n", 1)[0]
        return text if len(text) <= 240 else text[:237].rsplit(" ", 1)[0] + "…"

    @property
    def reading_minutes(self) -> int:
        return max(1, round(len(self.content.split()) / 200))
