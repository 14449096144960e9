"""The demo's own URLconf, templates and middleware for every test here.

tests/settings.py only installs the blog's apps; the rest comes from
``demo.settings`` (the real demo), so these tests exercise what ``make demo``
serves.  Each test gets its own rate-limit key prefix so counts never leak
between tests (or runs) sharing the Redis server.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from blog.models import Category, Post, Tag
from demo import settings as demo_settings
from django.contrib.auth.models import User
from django.test import Client
from django_redis import get_redis_connection


@pytest.fixture(autouse=True)
def demo_site(settings: Any) -> Iterator[None]:
    settings.ROOT_URLCONF = "demo.urls"
    settings.TEMPLATES = demo_settings.TEMPLATES
    settings.MIDDLEWARE = demo_settings.MIDDLEWARE
    settings.LOGIN_URL = demo_settings.LOGIN_URL
    settings.LOGIN_REDIRECT_URL = demo_settings.LOGIN_REDIRECT_URL
    settings.LOGOUT_REDIRECT_URL = demo_settings.LOGOUT_REDIRECT_URL
    # The demo's OPSKIT, but rate limits on the tests' Redis (as in
    # production) under a key prefix of this test's own.
    prefix = f"opskit-test-demo:{uuid.uuid4().hex}"
    settings.OPSKIT = {
        **demo_settings.OPSKIT,
        "RATELIMIT": {**settings.OPSKIT.get("RATELIMIT", {}), "KEY_PREFIX": prefix},
    }
    yield
    # The counters expire by themselves; remove them now anyway (ours only).
    redis = get_redis_connection(settings.OPSKIT["RATELIMIT"].get("CACHE", "redis"))
    for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        redis.delete(key)


@dataclass
class Blog:
    alice: User
    bob: User
    staff: User
    django: Category
    ops: Category
    published: list[Post]
    draft: Post
    archived: Post
    bobs_draft: Post


@pytest.fixture
def blog(db: None) -> Blog:
    """A small blog: 12 published posts, drafts of two authors, one archived."""
    alice = User.objects.create_user("alice", password="pw-alice", first_name="Alice")
    bob = User.objects.create_user("bob", password="pw-bob")
    staff = User.objects.create_user("editor", password="pw-editor", is_staff=True)
    django = Category.objects.create(name="Django", description="The framework.")
    ops = Category.objects.create(name="Operations", description="Running things.")
    redis, orm = Tag.objects.create(name="redis"), Tag.objects.create(name="orm")
    published = []
    for i in range(12):
        post = Post.objects.create(
            title=f"Published {i:02d} {'caching with Redis' if i % 3 == 0 else 'query plans'}",
            slug=f"published-{i:02d}",
            content=f"Body of post {i}.\n\nSecond paragraph.",
            status=Post.Status.PUBLISHED,
            author=alice if i % 2 == 0 else bob,
            category=django if i % 4 else ops,
        )
        post.tags.set([redis] if i % 3 == 0 else [orm, redis])
        published.append(post)
    draft = Post.objects.create(
        title="Alice's draft about Redis", slug="alice-draft", content="Not yet.", author=alice
    )
    bobs_draft = Post.objects.create(
        title="Bob's draft", slug="bob-draft", content="Not yet either.", author=bob
    )
    archived = Post.objects.create(
        title="Archived Redis post",
        slug="archived",
        content="Old.",
        author=alice,
        status=Post.Status.ARCHIVED,
        category=django,
    )
    return Blog(alice, bob, staff, django, ops, published, draft, archived, bobs_draft)


def login(user: User, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client
