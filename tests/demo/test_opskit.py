"""opskit seen through the demo: the query monitor and slow requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from opskit import signals

from .conftest import Blog, login

pytestmark = pytest.mark.django_db


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
