"""Every URL of an event follows the allow-list: request, headers, crumbs, spans."""

from __future__ import annotations

from typing import Any

from opskit.sentry.scrub import FILTERED, scrub_event

WORDS = ["token", "sig"]
HEADERS = ["authorization"]


def test_every_url_in_an_event() -> None:
    event: dict[str, Any] = {
        "request": {
            "url": "https://u:hunter2@shop.example/cart?q=mail@x.org&page=2",
            "query_string": "q=mail@x.org&page=2",
            "headers": {"Referer": "https://a.example/?code=S1&page=1", "Authorization": "b"},
            "env": {"HTTP_REFERER": "https://a.example/?code=S2", "QUERY_STRING": "otp=S3"},
            "data": "raw body with token=S4",
        },
        "spans": [
            {"op": "http.client", "description": "GET https://api.example/v1?key=S5&page=3"},
            {"op": "db", "description": "SELECT 1 FROM t WHERE a = ? AND b = ?"},
            {"op": "http.client", "data": {"url": "https://api.example/v1", "http.query": "s=S6"}},
        ],
        "contexts": {"trace": {"data": {"http.query": "pin=S7", "url": "/x?jwt=S8"}}},
        "breadcrumbs": {
            "values": [
                {"category": "httplib", "data": {"http.fragment": "access_token=S9"}},
                {"category": "log", "message": "calling /cb?state=S10 now"},
            ]
        },
        "extra": {"next": "/login?session=S11"},
    }
    scrub_event(event, HEADERS, WORDS, ["page"])
    text = repr(event)
    for n in range(1, 12):
        assert f"S{n}'" not in text and f"S{n}&" not in text and f"S{n} " not in text, n
    r = event["request"]
    assert r["url"] == f"https://u:{FILTERED}@shop.example/cart?q={FILTERED}&page=2"
    assert r["query_string"] == f"q={FILTERED}&page=2"
    assert r["headers"] == {
        "Referer": f"https://a.example/?code={FILTERED}&page=1",
        "Authorization": FILTERED,
    }
    spans = event["spans"]
    assert spans[0]["description"] == f"GET https://api.example/v1?key={FILTERED}&page=3"
    assert spans[1]["description"] == "SELECT 1 FROM t WHERE a = ? AND b = ?"
    assert spans[2]["data"] == {"url": "https://api.example/v1", "http.query": f"s={FILTERED}"}
    assert event["breadcrumbs"]["values"][1]["message"] == f"calling /cb?state={FILTERED} now"


def test_odd_shapes_never_raise() -> None:
    for event in (
        {"request": {"headers": {"X": 1}, "query_string": {"a": "b"}, "env": {1: 2}}},
        {"spans": [None, {"data": "x"}], "breadcrumbs": [1, {"data": None}]},
        {"contexts": {"trace": None}, "extra": [1, "a?b=c"]},
    ):
        scrub_event(event, HEADERS, WORDS)
    assert event["extra"] == [1, "a?b=c"]  # only dict extras are walked
