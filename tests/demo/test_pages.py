"""The server-rendered pages: list, detail, login, admin, 404 and 405."""

from __future__ import annotations

import re

import pytest
from blog.models import Post
from django.contrib.auth.models import User
from django.test import Client

from .conftest import Blog, login

pytestmark = pytest.mark.django_db


def titles(html: str) -> list[str]:
    return re.findall(r'<h2><a href="/posts/[^"]+/">([^<]+)</a></h2>', html)


def test_home_lists_published_posts_with_pages(blog: Blog) -> None:
    resp = Client().get("/")
    assert resp.status_code == 200
    html = resp.content.decode()
    expected = [p.title for p in Post.objects.published()]
    assert titles(html) == expected[:10]
    assert "Page 1 of 2" in html and "draft" not in html.lower()
    page2 = Client().get("/", {"page": 2}).content.decode()
    assert titles(page2) == expected[10:]
    # Out-of-range or junk page numbers fall back to a real page.
    assert titles(Client().get("/", {"page": "99"}).content.decode()) == expected[10:]
    assert titles(Client().get("/", {"page": "x"}).content.decode()) == expected[:10]


def test_home_search_and_category(blog: Blog) -> None:
    html = Client().get("/", {"q": "redis"}).content.decode()
    assert sorted(titles(html)) == sorted(p.title for p in blog.published if "Redis" in p.title)
    html = Client().get("/", {"category": "Operations"}).content.decode()
    assert sorted(titles(html)) == sorted(p.title for p in blog.published if p.category == blog.ops)
    assert "<h1>Operations</h1>" in html
    # Filters survive pagination links.
    html = Client().get("/", {"category": "Django"}).content.decode()
    assert "?category=Django&amp;page=2" not in html  # 9 posts: one page
    empty = Client().get("/", {"q": "no such words"}).content.decode()
    assert titles(empty) == [] and "No posts match" in empty


def test_home_unknown_category_is_404(blog: Blog) -> None:
    resp = Client().get("/", {"category": "Nope"})
    assert resp.status_code == 404
    assert "Not found" in resp.content.decode()


def test_pages_are_get_only(blog: Blog) -> None:
    assert Client().post("/").status_code == 405
    assert Client().post(f"/posts/{blog.published[0].slug}/").status_code == 405
    assert Client().head("/").status_code == 200
    assert Client().put("/accounts/login/").status_code == 405


def test_detail(blog: Blog) -> None:
    post = blog.published[3]
    resp = Client().get(f"/posts/{post.slug}/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert f"<h1>{post.title}</h1>" in html
    assert "<p>Second paragraph.</p>" in html
    assert all(f'<span class="tag">{t.name}</span>' in html for t in post.tags.all())


def test_detail_drafts_and_missing(blog: Blog) -> None:
    url = f"/posts/{blog.draft.slug}/"
    assert Client().get(url).status_code == 404
    assert login(blog.bob).get(url).status_code == 404
    own = login(blog.alice).get(url)
    assert own.status_code == 200 and "<strong>Draft</strong>" in own.content.decode()
    assert Client().get("/posts/no-such-post/").status_code == 404
    assert Client().get("/posts/not a slug!/").status_code == 404


def test_login_page_and_login(blog: Blog) -> None:
    c = Client()
    page = c.get("/accounts/login/")
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    bad = c.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and 'class="errors"' in bad.content.decode()
    ok = c.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert ok.status_code == 302 and ok["Location"] == "/"
    assert "alice" in c.get("/").content.decode()
    assert c.post("/accounts/logout/").status_code == 302
    assert "Log in" in c.get("/").content.decode()


def test_admin_changelists(blog: Blog) -> None:
    admin = User.objects.create_superuser("root", password="pw-root")
    c = login(admin)
    for url in ("/admin/blog/post/", "/admin/blog/category/", "/admin/blog/tag/"):
        assert c.get(url).status_code == 200, url
    html = c.get("/admin/blog/post/", {"q": "Redis"}).content.decode()
    assert "Published 00 caching with Redis" in html
    assert Client().get("/admin/blog/post/").status_code == 302  # to the admin login


def test_admin_publish_action(blog: Blog) -> None:
    admin = User.objects.create_superuser("root", password="pw-root")
    resp = login(admin).post(
        "/admin/blog/post/",
        {"action": "publish", "_selected_action": [blog.draft.pk, blog.bobs_draft.pk]},
    )
    assert resp.status_code == 302
    assert set(
        Post.objects.filter(pk__in=[blog.draft.pk, blog.bobs_draft.pk]).values_list(
            "status", flat=True
        )
    ) == {"published"}


def test_admin_static_files_are_served() -> None:
    resp = Client().get("/static/admin/css/base.css")
    assert resp.status_code == 200
    assert b"".join(resp.streaming_content).startswith(b"/*")  # type: ignore[attr-defined]
    assert Client().get("/static/admin/css/nope.css").status_code == 404
    # Traversal out of the static directories is refused (SuspiciousFileOperation).
    assert Client().get("/static/../settings.py").status_code == 400
