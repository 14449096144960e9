"""Slow requests and N+1 patterns become warning issues, one per pattern.

The query monitor and the slow-request check are built separately; these
tests send their signals with the documented arguments (opskit/signals.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from opskit import context
from opskit.context import DBStats, RequestRecord
from opskit.signals import n_plus_one_detected, slow_request_detected


def _record(route: str = "articles/<int:pk>/") -> RequestRecord:
    record = RequestRecord("req-" + "a" * 28, "GET", "/articles/1/")
    record.route = route
    record.status = 200
    record.db = DBStats()
    record.db.count = 42
    record.db.duration = 0.25
    return record


def _n_plus_one(fingerprint: str, count: int, record: RequestRecord) -> None:
    token = context.activate(record)
    try:
        n_plus_one_detected.send(
            sender=None,
            alias="default",
            fingerprint=fingerprint,
            count=count,
            duration=0.001 * count,
            sql='SELECT "author"."id" FROM "author" WHERE "author"."id" = %s',
            call_site="blog/views.py:42",
            record=record,
        )
    finally:
        context.deactivate(token)


def test_one_issue_fingerprint_per_n_plus_one_pattern(sentry_on: Any) -> None:
    sink = sentry_on(REPORT_N_PLUS_ONE=True, REPORT_INTERVAL=0.0)
    for count, fp in [(5, "aaaa1111"), (9, "aaaa1111"), (20, "aaaa1111"), (6, "bbbb2222")]:
        _n_plus_one(fp, count, _record())
    _n_plus_one("bbbb2222", 7, _record("other/route/"))
    events = sink.wait_events(5)
    assert len(events) == 5
    assert all(e["level"] == "warning" for e in events)
    fingerprints = {tuple(e["fingerprint"]) for e in events}
    # One issue per pattern and route: the same query shape repeated by
    # two views is two places to fix.
    assert fingerprints == {
        ("opskit.n_plus_one", "default", "aaaa1111", "articles/<int:pk>/"),
        ("opskit.n_plus_one", "default", "bbbb2222", "articles/<int:pk>/"),
        ("opskit.n_plus_one", "default", "bbbb2222", "other/route/"),
    }
    first = events[0]
    assert first["contexts"]["opskit"]["count"] == 5
    assert first["contexts"]["opskit"]["call_site"] == "blog/views.py:42"
    assert first["tags"]["request_id"] == "req-" + "a" * 28
    assert first["tags"]["http.route"] == "articles/<int:pk>/"


def test_repeated_pattern_is_reported_once_per_interval(sentry_on: Any) -> None:
    sink = sentry_on(REPORT_N_PLUS_ONE=True)  # default interval: 300 s
    for _ in range(4):
        _n_plus_one("cccc3333", 8, _record())
    _n_plus_one("dddd4444", 8, _record())
    events = sink.wait_events(2)
    assert sorted(e["fingerprint"][2] for e in events) == ["cccc3333", "dddd4444"]


def test_reports_are_off_by_default(sentry_on: Any) -> None:
    sink = sentry_on()
    _n_plus_one("eeee5555", 8, _record())
    slow_request_detected.send(sender=None, threshold=1.0, duration=2.5, record=_record())
    assert sink.events() == []


def test_slow_requests_one_issue_per_route(sentry_on: Any) -> None:
    sink = sentry_on(REPORT_SLOW_REQUESTS=True, REPORT_INTERVAL=0.0)
    for duration, route in [(1.5, "a/"), (3.0, "a/"), (2.0, "b/<slug>/")]:
        record = _record(route)
        token = context.activate(record)
        try:
            slow_request_detected.send(sender=None, threshold=1.0, duration=duration, record=record)
        finally:
            context.deactivate(token)
    events = sink.wait_events(3)
    assert len(events) == 3
    assert [e["fingerprint"] for e in events] == [
        ["opskit.slow_request", "GET", "a/"],
        ["opskit.slow_request", "GET", "a/"],
        ["opskit.slow_request", "GET", "b/<slug>/"],
    ]
    assert events[0]["message"] == "Slow request: GET a/"
    assert events[1]["contexts"]["opskit"]["duration_ms"] == 3000.0
    assert events[0]["contexts"]["opskit"]["db_queries"] == 42
    assert all(e["level"] == "warning" for e in events)


def test_receivers_disconnected_after_shutdown(sentry_on: Any) -> None:
    import opskit.sentry

    sink = sentry_on(REPORT_N_PLUS_ONE=True)
    opskit.sentry.shutdown()
    assert not opskit.sentry.is_active()
    receivers = n_plus_one_detected.send(
        sender=None, alias="default", fingerprint="f", count=9, duration=0.1, record=None
    )
    assert all(r.__module__ != "opskit.sentry.receivers" for r, _ in receivers)
    assert sink.of_type("event") == []


@pytest.mark.parametrize("flag", ["REPORT_N_PLUS_ONE", "REPORT_SLOW_REQUESTS"])
def test_reports_outside_a_request(sentry_on: Any, flag: str) -> None:
    # No record at all (a task outside a request): still one clean event.
    sink = sentry_on(**{flag: True})
    if flag == "REPORT_N_PLUS_ONE":
        n_plus_one_detected.send(
            sender=None, alias="default", fingerprint="ffff", count=9, duration=0.1, record=None
        )
        assert [e["fingerprint"][2] for e in sink.wait_events(1)] == ["ffff"]
    else:
        slow_request_detected.send(sender=None, threshold=1.0, duration=2.0, record=None)
        assert sink.events() == []  # nothing to name the issue after
