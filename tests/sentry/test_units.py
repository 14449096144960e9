"""The pure parts: the default traces sampler and the scrubbing functions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from opskit.sentry import traces_sampler
from opskit.sentry.scrub import FILTERED, scrub_event, scrub_query_string, scrub_text

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{}"


def wsgi(path: str, parent: bool | None = None, **headers: str) -> dict[str, Any]:
    environ = {"PATH_INFO": path}
    environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    return {"wsgi_environ": environ, "parent_sampled": parent}


def asgi(path: str, parent: bool | None = None, **headers: str) -> dict[str, Any]:
    scope = {
        "path": path,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    return {"asgi_scope": scope, "parent_sampled": parent}


@override_settings(OPSKIT={"SENTRY": {"TRACES_SAMPLE_RATE": 0.3}})
@pytest.mark.parametrize("ctx", [wsgi, asgi])
def test_sampler(ctx: Any) -> None:
    assert traces_sampler(ctx("/api/items/")) == 0.3
    for probe in ("/healthz", "/livez", "/readyz/", "/metrics", "/health/db"):
        assert traces_sampler(ctx(probe)) == 0.0, probe
        assert traces_sampler(ctx(probe, parent=True)) == 0.0, probe
    assert traces_sampler(ctx("/healthzone/")) == 0.3  # a prefix, not a substring
    assert traces_sampler(ctx("/metricsfoo")) == 0.3
    assert traces_sampler(ctx("/api/", parent=True)) == 1.0
    assert traces_sampler(ctx("/api/", parent=False)) == 0.0
    assert traces_sampler(ctx("/api/", traceparent=TP.format("01"))) == 1.0
    assert traces_sampler(ctx("/api/", traceparent=TP.format("00"))) == 0.3
    assert traces_sampler(ctx("/api/", traceparent="garbage-01")) == 0.3
    # Sentry's own header decides when both are present.
    assert traces_sampler(ctx("/api/", sentry_trace="x", traceparent=TP.format("01"))) == 0.3


@override_settings(OPSKIT={"SENTRY": {"TRACES_SAMPLE_RATE": 1.0, "IGNORE_PATHS": ["/internal"]}})
def test_sampler_ignore_paths_replace_the_probe_list() -> None:
    assert traces_sampler(wsgi("/internal/x")) == 0.0
    assert traces_sampler(wsgi("/healthz")) == 1.0
    assert traces_sampler({"transaction_context": {}, "parent_sampled": None}) == 1.0


WORDS = ["password", "token", "secret", "key", "session", "auth", "code", "signature"]
HEADERS = ["authorization", "cookie", "x-api-key", "x-csrftoken"]


def test_scrub_query_string() -> None:
    # An allow-list: only "page" keeps its value, a secret word wins over it.
    assert scrub_query_string("page=2&q=shoes", WORDS, ["page"]) == f"page=2&q={FILTERED}"
    out = scrub_query_string("page=2&access_token=abc&API_KEY=x&empty=", WORDS, ["page", "api_key"])
    assert out == f"page=2&access_token={FILTERED}&API_KEY={FILTERED}&empty="
    assert scrub_query_string("page=2", WORDS) == f"page={FILTERED}"  # no allow-list
    assert scrub_query_string("", WORDS) == ""


def test_scrub_text() -> None:
    text = "<WSGIRequest: GET '/pay?amount=5&card_token=abc123&next=/x'>"
    assert (
        scrub_text(text, WORDS, ["amount", "next"])
        == f"<WSGIRequest: GET '/pay?amount=5&card_token={FILTERED}&next=/x'>"
    )
    assert scrub_text("retry with x=1 and token=2", WORDS) == f"retry with x=1 and token={FILTERED}"
    assert scrub_text("no pairs here", WORDS) == "no pairs here"


def test_scrub_event_everywhere() -> None:
    event: dict[str, Any] = {
        "message": "retry with password=hunter2",
        "request": {
            "headers": {"Authorization": "Bearer a", "X-Api-Key": "k", "Accept": "json"},
            "cookies": {"sessionid": "s", "theme": "dark"},
            "query_string": "code=123&page=1",
            "data": {"password": "p", "title": "t"},
            "env": {"HTTP_X_API_KEY": "k", "REMOTE_ADDR": "1.2.3.4"},
        },
        "exception": {
            "values": [
                {
                    "value": "bad url /cb?code=999",
                    "stacktrace": {"frames": [{"vars": {"url": "/x?token=t", "n": 3}}]},
                }
            ]
        },
        "breadcrumbs": {"values": [{"data": {"http.query": "secret=1&a=2"}, "message": "m"}]},
    }
    scrub_event(event, HEADERS, WORDS, ["page", "a"])
    r = event["request"]
    assert r["headers"] == {"Authorization": FILTERED, "X-Api-Key": FILTERED, "Accept": "json"}
    assert r["cookies"] == {"sessionid": FILTERED, "theme": FILTERED}
    assert r["query_string"] == f"code={FILTERED}&page=1"
    assert r["data"] == {"password": FILTERED, "title": "t"}
    assert r["env"] == {"HTTP_X_API_KEY": FILTERED, "REMOTE_ADDR": "1.2.3.4"}
    assert event["message"] == f"retry with password={FILTERED}"
    exc = event["exception"]["values"][0]
    assert exc["value"] == f"bad url /cb?code={FILTERED}"
    assert exc["stacktrace"]["frames"][0]["vars"] == {"url": f"/x?token={FILTERED}", "n": 3}
    assert event["breadcrumbs"]["values"][0]["data"]["http.query"] == f"secret={FILTERED}&a=2"


def test_cookies_kept_when_cookie_header_is_not_redacted() -> None:
    event: dict[str, Any] = {"request": {"cookies": {"sessionid": "s", "theme": "dark"}}}
    scrub_event(event, ["authorization"], WORDS)
    assert event["request"]["cookies"] == {"sessionid": FILTERED, "theme": "dark"}
