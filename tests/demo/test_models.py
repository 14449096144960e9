"""The blog's models, migrations and the seed command."""

from __future__ import annotations

import io

import pytest
from blog.models import Category, Post, Tag
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_published_at_is_set_on_publish() -> None:
    user = User.objects.create_user("u")
    post = Post.objects.create(title="t", slug="t", content="c", author=user)
    assert post.published_at is None
    assert post.publish() is True
    stamped = Post.objects.get(pk=post.pk).published_at
    assert stamped is not None
    assert post.publish() is False
    assert Post.objects.get(pk=post.pk).published_at == stamped
    direct = Post.objects.create(title="d", slug="d", content="c", author=user, status="published")
    assert direct.published_at is not None


def test_querysets() -> None:
    user = User.objects.create_user("u")
    cat = Category.objects.create(name="C")
    tag = Tag.objects.create(name="t")
    for i, status in enumerate(["published", "draft", "archived", "published"]):
        p = Post.objects.create(
            title=f"p{i}", slug=f"p{i}", content="c", author=user, status=status, category=cat
        )
        p.tags.add(tag)
    assert [p.title for p in Post.objects.published()] == ["p3", "p0"]
    with CaptureQueriesContext(connection) as queries:
        posts = list(Post.objects.published().with_related())
        names = [
            (p.author.username, p.category.name, [t.name for t in p.tags.all()]) for p in posts
        ]
    assert len(queries) == 2
    assert names == [("u", "C", ["t"])] * 2


def test_indexes_exist_in_the_database() -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Post._meta.db_table)
    assert {
        "blog_post_status_pub_idx",
        "blog_post_author_status_idx",
        "blog_post_created_idx",
    } <= set(constraints)
    assert constraints["blog_post_status_pub_idx"]["columns"] == ["status", "published_at"]
    slug = [c for c in constraints.values() if c["columns"] == ["slug"] and c["unique"]]
    assert slug


def test_no_missing_migrations() -> None:
    out = io.StringIO()
    call_command("makemigrations", "blog", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_seed_blog_is_realistic_and_bulk() -> None:
    out = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("seed_blog", "--posts", "120", stdout=out)
    assert "120 posts" in out.getvalue()
    # Bulk inserts: the query count does not depend on the number of posts.
    assert len(queries) < 30
    assert Post.objects.count() == 120
    assert User.objects.filter(posts__isnull=False).distinct().count() >= 5
    assert Category.objects.count() == 8 and Tag.objects.count() >= 20
    assert not Post.objects.filter(tags=None).exists()
    statuses = set(Post.objects.values_list("status", flat=True))
    assert statuses == {"published", "draft", "archived"}
    assert not Post.objects.filter(status="published", published_at=None).exists()
    assert not Post.objects.filter(status="draft").exclude(published_at=None).exists()
    assert Post.objects.values("slug").distinct().count() == 120
    assert authenticate(username="demo", password="demo") is not None
    assert authenticate(username="ada", password="demo") is None


def test_seed_blog_if_empty_and_again() -> None:
    call_command("seed_blog", "--posts", "30", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_blog", "--posts", "30", "--if-empty", stdout=out)
    assert "nothing to do" in out.getvalue() and Post.objects.count() == 30
    call_command("seed_blog", "--posts", "30", stdout=io.StringIO())
    assert Post.objects.count() == 60
    assert Post.objects.values("slug").distinct().count() == 60
    assert User.objects.filter(username="demo").count() == 1
