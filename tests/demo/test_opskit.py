"""opskit seen through the demo: rate limits, the query monitor, slow requests, logs.

Rate limits run on the real Redis of the test settings (``RATELIMIT.CACHE
"redis"``), each test with its own key prefix (``conftest.demo_site``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from opskit import signals

from .conftest import Blog, login

pytestmark = pytest.mark.django_db


def state(resp: Any) -> tuple[str, int, int]:
    """(policy name, remaining, seconds) from the IETF ``RateLimit`` header."""
    m = re.fullmatch(r'"([^"]+)";r=(\d+);t=(\d+)', resp["RateLimit"])
    assert m, resp["RateLimit"]
    return m.group(1), int(m.group(2)), int(m.group(3))


def until_limited(send: Any, most: int) -> tuple[list[Any], Any, float]:
    """Send requests until the first 429; return the admitted ones, it, and the seconds taken."""
    admitted = []
    started = time.monotonic()
    for _ in range(most):
        resp = send()
        if resp.status_code == 429:
            return admitted, resp, time.monotonic() - started
        admitted.append(resp)
    raise AssertionError(f"no 429 after {most} requests")


def assert_gcra_count(admitted: int, limit: int, period: float, elapsed: float) -> None:
    # A GCRA limit admits its burst (= the limit) at once, then one request
    # per period/limit: on a slow machine a few more may be due meanwhile.
    assert limit <= admitted <= limit + int(elapsed / (period / limit)) + 1


def assert_429(resp: Any, policy: str) -> None:
    assert resp.status_code == 429
    assert int(resp["Retry-After"]) >= 1
    name, remaining, _ = state(resp)
    assert (name, remaining) == (policy, 0)
    assert resp.json()["error"] == "rate_limited"


def test_search_is_limited_per_client(blog: Blog) -> None:
    c = Client()
    admitted, limited, elapsed = until_limited(lambda: c.get("/api/search/", {"q": "redis"}), 60)
    assert_gcra_count(len(admitted), 30, 60, elapsed)
    assert all(r.status_code == 200 for r in admitted)
    assert admitted[0]["RateLimit-Policy"] == '"30/m";q=30;w=60'
    remaining = [state(r)[1] for r in admitted]
    assert remaining[0] == 29 and remaining[-1] <= 1
    assert_429(limited, "30/m")
    # Per client: another address still has its whole quota.
    other = Client(REMOTE_ADDR="10.1.2.3").get("/api/search/", {"q": "redis"})
    assert other.status_code == 200 and state(other)[1] == 29


def test_login_is_strict_five_per_fifteen_minutes(blog: Blog) -> None:
    c = Client()
    for i in range(5):
        resp = c.post("/accounts/login/", {"username": "alice", "password": f"guess-{i}"})
        assert resp.status_code == 200, i  # the form again, with its error
        assert state(resp) == ("5/15m", 4 - i, state(resp)[2])
    resp = c.post(
        "/accounts/login/", {"username": "alice", "password": "pw-alice"}, HTTP_ACCEPT="text/html"
    )
    assert resp.status_code == 429
    assert 1 <= int(resp["Retry-After"]) <= 15 * 60
    assert "Too Many Requests" in resp.content.decode()
    assert "_auth_user_id" not in c.session  # the right password did not get through
    # Reading the form is not limited; another address may still log in.
    assert c.get("/accounts/login/").status_code == 200
    other = Client(REMOTE_ADDR="10.9.8.7")
    ok = other.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert ok.status_code == 302


def test_create_is_limited_per_user_with_the_mixin(blog: Blog) -> None:
    alice = login(blog.alice)
    admitted, limited, elapsed = until_limited(
        lambda: alice.post("/api/posts/", "{", content_type="application/json"), 40
    )
    assert_gcra_count(len(admitted), 20, 60, elapsed)
    assert all(r.status_code == 400 for r in admitted)  # limited before the body is read
    assert admitted[0]["RateLimit-Policy"] == '"20/m";q=20;w=60'
    assert_429(limited, "20/m")
    # Per user: Bob, from the same address, is not affected; reads are not limited.
    bob = login(blog.bob).post("/api/posts/", {"title": "t", "content": "c"}, "application/json")
    assert bob.status_code == 201
    read = alice.get("/api/posts/")
    assert read.status_code == 200 and not read.has_header("RateLimit")


@pytest.fixture
def n_plus_one_events() -> Iterator[list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        events.append(kwargs)

    signals.n_plus_one_detected.connect(receiver, weak=False)
    yield events
    signals.n_plus_one_detected.disconnect(receiver)


def test_query_monitor_reports_the_naive_list_only(
    blog: Blog, n_plus_one_events: list[dict[str, Any]]
) -> None:
    c = Client()
    efficient = c.get("/api/posts/", {"limit": 10})
    assert efficient.status_code == 200
    assert n_plus_one_events == []
    db = efficient.wsgi_request.opskit.db  # type: ignore[attr-defined]
    assert db.n_plus_one == 0 and db.count == 3

    naive = c.get("/api/posts/n-plus-one/", {"limit": 10})
    assert naive.status_code == 200 and naive.json() == efficient.json()
    record = naive.wsgi_request.opskit  # type: ignore[attr-defined]
    assert record.db.n_plus_one == 3 and record.db.count == 2 + 3 * 10
    assert len(n_plus_one_events) == 3
    for event in n_plus_one_events:
        assert event["count"] == 10 and event["record"] is record
        assert "blog/api.py:" in event["call_site"] and "post_json" in event["call_site"]
    tables = " ".join(e["sql"] for e in n_plus_one_events)
    assert all(t in tables for t in ("auth_user", "blog_category", "blog_tag"))


def test_analytics_is_a_slow_request_candidate(blog: Blog) -> None:
    resp = login(blog.alice).get("/api/analytics/")
    assert resp.status_code == 200
    record = resp.wsgi_request.opskit  # type: ignore[attr-defined]
    # The view's own threshold (200 ms), not the global one (1 s).
    assert record.extra["slow_threshold"] == pytest.approx(0.2)
    other = Client().get("/api/posts/").wsgi_request.opskit  # type: ignore[attr-defined]
    assert other.extra["slow_threshold"] == pytest.approx(1.0)


def test_request_log_line_is_json_with_request_id(
    blog: Blog, caplog: pytest.LogCaptureFixture
) -> None:
    from opskit.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="opskit.request"):
        resp = Client().get("/api/posts/n-plus-one/", {"limit": 6})
    lines = [r for r in caplog.records if r.name == "opskit.request"]
    assert len(lines) == 1
    line = json.loads(JsonFormatter().format(lines[0]))
    assert line["request_id"] == resp["X-Request-ID"]
    assert line["http.route"] == "api/posts/n-plus-one/"
    assert line["http.response.status_code"] == 200
    assert line["db.query_count"] == 2 + 3 * 6


def test_health_endpoints(blog: Blog, settings: Any) -> None:
    for path in ("/livez", "/readyz", "/healthz", "/health"):
        resp = Client().get(path)
        assert resp.status_code == 200, path
        assert resp.json() == {"status": "pass"}  # no details without the token
    settings.OPSKIT = {**settings.OPSKIT, "HEALTH": {"TOKEN": "demo-health-token"}}
    resp = Client().get("/readyz?verbose", HTTP_AUTHORIZATION="Bearer demo-health-token")
    assert Client().get("/readyz?verbose").json() == {"status": "pass"}
    assert resp.status_code == 200
    checks = resp.json()["checks"]
    # The demo's database and caches (Redis included) are all checked.
    components = {v[0]["componentId"] for v in checks.values()}
    assert {"db.default", "redis.redis"} <= components, components
    assert all(v[0]["status"] == "pass" for v in checks.values())
