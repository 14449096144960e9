"""The demo's JSON API: successes, and every error a client can get."""

from __future__ import annotations

import json
from typing import Any

import pytest
from blog.models import Post, Tag
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from .conftest import Blog, login

pytestmark = pytest.mark.django_db


def post_json(client: Client, url: str, data: Any, **extra: Any) -> Any:
    body = data if isinstance(data, (str, bytes)) else json.dumps(data)
    return client.post(url, body, content_type="application/json", **extra)


# -- GET /api/posts/ ---------------------------------------------------------


def test_list_returns_published_posts_newest_first(blog: Blog) -> None:
    resp = Client().get("/api/posts/")
    assert resp.status_code == 200
    data = resp.json()
    assert data["count"] == 12
    ids = [p["id"] for p in data["results"]]
    expected = list(Post.objects.published().values_list("id", flat=True))
    assert ids == expected
    first = data["results"][0]
    post = Post.objects.get(pk=first["id"])
    assert first["slug"] == post.slug
    assert first["author"]["username"] == post.author.username
    assert first["category"] == post.category.name
    assert sorted(first["tags"]) == sorted(t.name for t in post.tags.all())
    assert first["url"] == f"/posts/{post.slug}/"
    assert "content" not in first and first["excerpt"].startswith("Body of post")


def test_list_search_category_limit_offset(blog: Blog) -> None:
    c = Client()
    data = c.get("/api/posts/", {"search": "redis"}).json()
    assert data["count"] == 4  # published 0, 3, 6, 9; not the draft or archived
    assert all("Redis" in p["title"] for p in data["results"])
    data = c.get("/api/posts/", {"category": "operations"}).json()
    assert {p["category"] for p in data["results"]} == {"Operations"}
    assert data["count"] == 3
    data = c.get("/api/posts/", {"limit": 5, "offset": 10}).json()
    assert (data["limit"], data["offset"], len(data["results"])) == (5, 10, 2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"search": "x" * 201}, "search"),
        ({"category": "Nope"}, "category"),
    ],
)
def test_list_bad_parameters_are_400_with_field_messages(
    blog: Blog, params: dict[str, str], field: str
) -> None:
    resp = Client().get("/api/posts/", params)
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] and list(body["fields"]) == [field]
    assert body["fields"][field][0]


def test_list_query_count_does_not_grow_with_posts(blog: Blog) -> None:
    c = Client()
    with CaptureQueriesContext(connection) as few:
        assert len(c.get("/api/posts/", {"limit": 2}).json()["results"]) == 2
    with CaptureQueriesContext(connection) as many:
        assert len(c.get("/api/posts/", {"limit": 12}).json()["results"]) == 12
    assert len(few) == len(many) <= 4


def test_naive_list_same_answer_but_a_query_per_post(blog: Blog) -> None:
    c = Client()
    efficient = c.get("/api/posts/", {"limit": 10}).json()
    with CaptureQueriesContext(connection) as queries:
        naive = c.get("/api/posts/n-plus-one/", {"limit": 10})
    assert naive.status_code == 200
    assert naive.json() == efficient
    # list + count + (author, category, tags) for each of the 10 posts
    assert len(queries) >= 2 + 3 * 10


def test_list_method_not_allowed(blog: Blog) -> None:
    for method in ("put", "delete", "patch"):
        resp = getattr(Client(), method)("/api/posts/")
        assert resp.status_code == 405
        assert resp["Allow"] == "GET, POST, HEAD, OPTIONS"
        assert "not allowed" in resp.json()["error"]
    resp = Client().post("/api/posts/n-plus-one/")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD"


# -- POST /api/posts/ ----------------------------------------------------------


def test_create_post_with_tags_by_name(blog: Blog) -> None:
    c = login(blog.bob)
    resp = post_json(
        c,
        "/api/posts/",
        {
            "title": "  Rate limits on Redis ",
            "content": "Atomic counters.",
            "category": "operations",
            "tags": ["redis", "Rate-Limiting", "redis"],
        },
    )
    assert resp.status_code == 201, resp.content
    data = resp.json()
    post = Post.objects.get(pk=data["id"])
    assert resp["Location"] == f"/api/posts/{post.pk}/"
    assert (post.title, post.slug, post.author, post.category) == (
        "Rate limits on Redis",
        "rate-limits-on-redis",
        blog.bob,
        blog.ops,
    )
    assert post.status == "draft" and post.published_at is None
    assert sorted(t.name for t in post.tags.all()) == ["rate-limiting", "redis"]
    assert Tag.objects.filter(name="redis").count() == 1
    assert data["content"] == "Atomic counters." and data["tags"] == ["rate-limiting", "redis"]


def test_create_published_sets_published_at_and_slug_is_made_unique(blog: Blog) -> None:
    c = login(blog.alice)
    first = post_json(c, "/api/posts/", {"title": "Same", "content": "a", "status": "published"})
    second = post_json(c, "/api/posts/", {"title": "Same", "content": "b"})
    assert first.status_code == second.status_code == 201
    assert first.json()["published_at"] is not None
    assert (first.json()["slug"], second.json()["slug"]) == ("same", "same-2")


def test_create_requires_login(blog: Blog) -> None:
    resp = post_json(Client(), "/api/posts/", {"title": "t", "content": "c"})
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"].startswith("Cookie")
    assert Post.objects.filter(title="t").count() == 0


def test_create_enforces_csrf_for_session_auth(blog: Blog) -> None:
    c = login(blog.alice, enforce_csrf_checks=True)
    resp = post_json(c, "/api/posts/", {"title": "t", "content": "c"})
    assert resp.status_code == 403
    assert "CSRF" in resp.json()["error"]
    c.get("/accounts/login/")  # sets the csrftoken cookie
    token = c.cookies["csrftoken"].value
    resp = post_json(c, "/api/posts/", {"title": "t", "content": "c"}, HTTP_X_CSRFTOKEN=token)
    assert resp.status_code == 201


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"title", "content"}),
        ({"title": "", "content": "  "}, {"title", "content"}),
        ({"title": 5, "content": ["x"]}, {"title", "content"}),
        ({"title": "x" * 201, "content": "c"}, {"title"}),
        ({"title": "t", "content": "c", "status": "live"}, {"status"}),
        ({"title": "t", "content": "c", "category": "Nope"}, {"category"}),
        ({"title": "t", "content": "c", "category": 3}, {"category"}),
        ({"title": "t", "content": "c", "tags": "redis"}, {"tags"}),
        ({"title": "t", "content": "c", "tags": [1, 2]}, {"tags"}),
        ({"title": "t", "content": "c", "tags": [f"t{i}" for i in range(11)]}, {"tags"}),
        ({"title": "t", "content": "c", "tags": ["x" * 51]}, {"tags"}),
        ({"title": "t", "content": "c", "slug": "Not A Slug"}, {"slug"}),
        ({"title": "t", "content": "c", "slug": "published-01"}, {"slug"}),
        ({"title": "t", "content": "c", "author": 1, "id": 9}, {"author", "id"}),
    ],
)
def test_create_invalid_fields_are_400_per_field(
    blog: Blog, body: dict[str, Any], fields: set[str]
) -> None:
    before = Post.objects.count()
    resp = post_json(login(blog.alice), "/api/posts/", body)
    assert resp.status_code == 400
    data = resp.json()
    assert data["error"] == "Invalid fields."
    assert set(data["fields"]) == fields
    assert all(isinstance(m, str) and m for msgs in data["fields"].values() for m in msgs)
    assert Post.objects.count() == before


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "Invalid JSON"),
        ("", 415, "application/json"),  # the test client sends no type with no body
        ("[1, 2]", 400, "expected an object"),
        (b"\xff\xfe", 400, "Invalid JSON"),
    ],
)
def test_create_bad_json_is_rejected(blog: Blog, body: Any, status: int, message: str) -> None:
    resp = post_json(login(blog.alice), "/api/posts/", body)
    assert resp.status_code == status
    assert message in resp.json()["error"]


def test_create_needs_json_content_type(blog: Blog) -> None:
    resp = login(blog.alice).post("/api/posts/", {"title": "t", "content": "c"})
    assert resp.status_code == 415
    assert "application/json" in resp.json()["error"]


# -- GET /api/posts/<id>/ --------------------------------------------------


def test_detail_published_draft_and_missing(blog: Blog) -> None:
    pub = blog.published[0]
    resp = Client().get(f"/api/posts/{pub.pk}/")
    assert resp.status_code == 200
    assert resp.json()["content"] == pub.content and resp.json()["id"] == pub.pk
    url = f"/api/posts/{blog.draft.pk}/"
    assert Client().get(url).status_code == 404
    assert login(blog.bob).get(url).status_code == 404
    assert login(blog.alice).get(url).json()["status"] == "draft"
    assert login(blog.staff).get(url).status_code == 200
    assert Client().get(f"/api/posts/{blog.archived.pk}/").status_code == 404
    missing = Client().get("/api/posts/999999/")
    assert missing.status_code == 404 and "999999" in missing.json()["error"]
    resp = Client().delete(f"/api/posts/{pub.pk}/")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD"


# -- POST /api/posts/<id>/publish/ -----------------------------------------


def test_publish_by_author_then_again(blog: Blog) -> None:
    url = f"/api/posts/{blog.draft.pk}/publish/"
    c = login(blog.alice)
    resp = c.post(url)
    assert resp.status_code == 200
    data = resp.json()
    assert data["status"] == "published" and data["changed"] is True
    blog.draft.refresh_from_db()
    assert blog.draft.status == "published" and blog.draft.published_at is not None
    assert data["published_at"] == blog.draft.published_at.isoformat()
    again = c.post(url).json()
    assert again["changed"] is False and again["published_at"] == data["published_at"]


def test_publish_by_staff(blog: Blog) -> None:
    resp = login(blog.staff).post(f"/api/posts/{blog.bobs_draft.pk}/publish/")
    assert resp.status_code == 200
    assert Post.objects.get(pk=blog.bobs_draft.pk).status == "published"


def test_publish_errors(blog: Blog) -> None:
    url = f"/api/posts/{blog.draft.pk}/publish/"
    assert Client().post(url).status_code == 401
    # Bob cannot see Alice's draft at all, and may not publish her posts.
    assert login(blog.bob).post(url).status_code == 404
    theirs = next(p for p in blog.published if p.author == blog.alice)
    resp = login(blog.bob).post(f"/api/posts/{theirs.pk}/publish/")
    assert resp.status_code == 403 and "author" in resp.json()["error"]
    assert login(blog.alice).post("/api/posts/999999/publish/").status_code == 404
    resp = login(blog.alice).get(url)
    assert resp.status_code == 405 and resp["Allow"] == "POST"
    assert Post.objects.get(pk=blog.draft.pk).status == "draft"


def test_publish_enforces_csrf(blog: Blog) -> None:
    c = login(blog.alice, enforce_csrf_checks=True)
    resp = c.post(f"/api/posts/{blog.draft.pk}/publish/")
    assert resp.status_code == 403 and "CSRF" in resp.json()["error"]
    assert Post.objects.get(pk=blog.draft.pk).status == "draft"


# -- GET /api/analytics/ ---------------------------------------------------


def test_analytics_per_author(blog: Blog) -> None:
    assert Client().get("/api/analytics/").status_code == 401
    resp = login(blog.bob).get("/api/analytics/")
    assert resp.status_code == 200
    data = resp.json()
    by_name = {a["author"]["username"]: a for a in data["authors"]}
    assert set(by_name) == {"alice", "bob"} and data["count"] == 2
    for user in (blog.alice, blog.bob):
        row = by_name[user.username]
        mine = Post.objects.filter(author=user)
        assert row["posts"] == {
            "total": mine.count(),
            "published": mine.filter(status="published").count(),
            "draft": mine.filter(status="draft").count(),
            "archived": mine.filter(status="archived").count(),
        }
        assert (
            row["categories"] == mine.exclude(category=None).values("category").distinct().count()
        )
        latest = mine.filter(status="published").order_by("-published_at").first()
        assert latest is not None and row["last_published"] == latest.published_at.isoformat()
        assert row["top_tags"][0] == {
            "tag": "redis",
            "posts": mine.filter(status="published", tags__name="redis").count(),
        }
    assert Client().post("/api/analytics/").status_code == 405


# -- GET /api/search/ ------------------------------------------------------


def test_search(blog: Blog) -> None:
    resp = Client().get("/api/search/", {"q": "redis"})
    assert resp.status_code == 200
    data = resp.json()
    expected = set(Post.objects.published().search("redis").values_list("id", flat=True))
    assert {r["id"] for r in data["results"]} == expected and len(expected) == 4
    assert data["query"] == "redis" and data["count"] == 4
    assert all(r["url"].startswith("/posts/published-") for r in data["results"])
    assert Client().get("/api/search/", {"q": "zzzz"}).json()["results"] == []
    assert Client().head("/api/search/", {"q": "redis"}).status_code == 200


@pytest.mark.parametrize("params", [{}, {"q": "x"}, {"q": "  a "}, {"q": "ab", "limit": "0"}])
def test_search_bad_query(blog: Blog, params: dict[str, str]) -> None:
    resp = Client().get("/api/search/", params)
    assert resp.status_code == 400
    assert set(resp.json()["fields"]) <= {"q", "limit"} and resp.json()["fields"]


def test_search_method_not_allowed(blog: Blog) -> None:
    resp = Client().post("/api/search/?q=redis")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD"


def test_unknown_api_path_is_json_404(blog: Blog) -> None:
    resp = Client().get("/api/nothing/here/")
    assert resp.status_code == 404
    assert resp["Content-Type"] == "application/json"
    assert resp.json() == {"error": "No API endpoint at /api/nothing/here/."}
