"""What a visitor sees: the styled 429, the footer's links, coherent posts, hostile input.

The hostile-input tests run on PostgreSQL (the default alias of the main
run), which refuses NUL in text with a DataError: the blog must answer 400
before a value reaches a query.
"""

from __future__ import annotations

import io
import re
from importlib.metadata import metadata
from typing import Any

import pytest
from blog.management.commands.seed_blog import CATEGORY_SENTENCES, TOPICS
from blog.models import Post
from blog.pages import humanize_seconds
from django.core.management import call_command
from django.db import connection
from django.test import Client

from .conftest import Blog, login

pytestmark = pytest.mark.django_db


def _guess_the_password(client: Client) -> Any:
    for i in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": f"guess-{i}"})
    return client.post(
        "/accounts/login/", {"username": "alice", "password": "x"}, HTTP_ACCEPT="text/html"
    )


def test_the_login_429_is_the_blogs_page_in_words(blog: Blog) -> None:
    resp = _guess_the_password(Client())
    assert resp.status_code == 429
    html = resp.content.decode()
    assert "<title>Too Many Requests · opskit demo blog</title>" in html
    assert 'class="brand"' in html and "<footer" in html  # the blog's layout
    retry = int(resp["Retry-After"])
    assert 14 * 60 < retry <= 15 * 60
    assert "Try again in 15 minutes." in html and "seconds" not in html
    # opskit's headers survive the restyling.
    assert resp["RateLimit-Policy"] == '"5/15m";q=5;w=900'
    assert resp["RateLimit"].startswith('"5/15m";r=0;') and resp["Cache-Control"] == "no-store"


def test_a_json_client_still_gets_json(blog: Blog) -> None:
    client = Client()
    for i in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": f"guess-{i}"})
    resp = client.post("/accounts/login/", {"username": "alice", "password": "x"})
    assert resp.status_code == 429 and resp.json()["error"] == "rate_limited"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (42, "42 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (899, "15 minutes"),
        (900, "15 minutes"),
        (3600, "1 hour"),
        (5400, "2 hours"),
        (0, "1 second"),
    ],
)
def test_humanize_rounds_up(seconds: int, words: str) -> None:
    assert humanize_seconds(seconds) == words


def test_the_footer_links_to_the_docs(blog: Blog) -> None:
    html = Client().get("/").content.decode()
    urls = dict(
        entry.split(", ", 1) for entry in metadata("django-opskit").get_all("Project-URL") or []
    )
    assert "Documentation" in urls
    footer = html.split("<footer", 1)[1]
    assert f'<a href="{urls["Documentation"]}">Documentation</a>' in footer
    assert 'href="https://github.com/"' not in footer


def test_seeded_posts_are_about_their_title() -> None:
    call_command("seed_blog", "--posts", "80", stdout=io.StringIO())
    posts = Post.objects.select_related("category").prefetch_related("tags")
    seen_topics = set()
    for post in posts:
        [topic] = [t for t in TOPICS if t.lower() in post.title.lower()]
        seen_topics.add(topic)
        category, tags, sentences = TOPICS[topic]
        assert post.category is not None and post.category.name == category, post.title
        assert {t.name for t in post.tags.all()} == set(tags), post.title
        said = re.split(r"(?<=\.) ", post.content.replace("\n\n", " "))
        allowed = set(sentences) | set(CATEGORY_SENTENCES[category])
        assert said and set(said) <= allowed, post.title
        # Mostly about the topic: at least half its own sentences.
        assert sum(s in sentences for s in said) >= len(said) // 2
    assert len(seen_topics) >= 15
    # No title twice on the home page: every (topic, title) pair comes once first.
    assert len({p.title for p in posts}) == 80


HOSTILE = ["\x00", "redis\x00", "\x00' OR 1=1 --"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/", "q"),
        ("/", "category"),
        ("/api/posts/", "search"),
        ("/api/posts/", "category"),
        ("/api/search/", "q"),
    ],
)
def test_hostile_query_values_get_a_400_never_a_500(
    blog: Blog, path: str, name: str, value: str
) -> None:
    assert connection.vendor in ("postgresql", "sqlite")
    resp = Client(raise_request_exception=False).get(path, {name: value})
    assert resp.status_code == 400, resp.content[:300]
    if path.startswith("/api/"):
        assert resp.json()["fields"][name] == ["Must not contain a NUL character."]
    else:
        assert "Bad Request" in resp.content.decode()


def test_other_odd_values_are_an_empty_result_or_a_400(blog: Blog) -> None:
    client = Client(raise_request_exception=False)
    for params in (
        {"q": "%"},
        {"q": "_"},
        {"q": "\\"},
        {"q": "\u202e\ufeff"},
        {"page": "\x00"},
        {"q": "x" * 5000},
        {"category": "Operations\u0001"},
    ):
        assert client.get("/", params).status_code in (200, 400, 404), params
    for params in ({"search": "%_\\"}, {"limit": "\x00"}, {"offset": "-1"}, {"category": "\u0001"}):
        assert client.get("/api/posts/", params).status_code in (200, 400), params


def test_a_nul_in_a_created_post_is_a_field_error(blog: Blog) -> None:
    alice = login(blog.alice)
    for payload in (
        {"title": "a\x00b", "content": "c"},
        {"title": "t", "content": "c", "tags": ["ok", "b\x00d"]},
        {"title": "t", "content": "c", "category": "\x00"},
    ):
        resp = alice.post("/api/posts/", payload, content_type="application/json")
        assert resp.status_code == 400, payload
        [field] = [
            k for k, v in payload.items() if "\x00" in (v if isinstance(v, str) else "".join(v))
        ]
        assert resp.json()["fields"][field] == ["Must not contain a NUL character."]
