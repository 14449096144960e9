"""The request line: fields, types, levels, routes, through the real handlers."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient, Client, override_settings

from opskit.middleware import UNMATCHED_ROUTE

from .conftest import Captured

COMMON = {
    "request_id": str,
    "http.request.method": str,
    "url.path": str,
    "http.route": str,
    "http.response.status_code": int,
    "duration_ms": float,
}


def assert_types(line: dict[str, Any]) -> None:
    for key, tp in COMMON.items():
        assert isinstance(line[key], tp), (key, line)
    assert line["duration_ms"] >= 0
    assert line["logger"] == "opskit.request"
    assert isinstance(line["time"], str) and line["time"].endswith("Z")


def test_sync_view_fields(captured: Captured) -> None:
    resp = Client().get("/api/posts/42/?page=2")
    assert resp.status_code == 200
    line = captured.request()
    assert_types(line)
    assert line["request_id"] == resp["X-Request-ID"]
    assert line["http.request.method"] == "GET"
    assert line["url.path"] == "/api/posts/42/"
    assert line["http.route"] == "api/posts/<int:pk>/"
    assert line["view"] == "post-detail"
    assert line["http.response.status_code"] == 200
    assert line["http.response.body.size"] == len(resp.content)
    assert line["client.address"] == "127.0.0.1"
    assert line["level"] == "INFO"
    assert "message" not in line  # the fields say it all, in fewer bytes
    # Nothing that was not known: no user, no error, no trace, no query.
    for absent in ("user.id", "error.type", "trace_id", "url.query"):
        assert absent not in line
    # The query monitor (on by default) counted this view's queries: none.
    assert line["db.query_count"] == 0 and line["db.duration_ms"] == 0
    [raw] = [r for r in captured.raw.splitlines() if '"opskit.request"' in r]
    assert len(raw.encode()) < 400, len(raw)


def test_typical_line_size(captured: Captured) -> None:
    """Under 350 bytes; the query monitor's two fields add about 40."""
    with override_settings(OPSKIT={"QUERIES": {"ENABLED": False}}):
        Client().get("/api/posts/42/", REMOTE_ADDR="203.0.113.9")
    [raw] = [r for r in captured.raw.splitlines() if '"opskit.request"' in r]
    assert "db.query_count" not in raw
    assert len(raw.encode()) < 350, raw


async def test_async_view_fields(captured: Captured) -> None:
    resp = await AsyncClient().get("/api/aposts/7/")
    assert resp.status_code == 200
    line = captured.request()
    assert_types(line)
    assert line["request_id"] == resp["X-Request-ID"]
    assert line["http.route"] == "api/aposts/<int:pk>/"
    assert line["view"] == "apost-detail"
    assert line["http.response.body.size"] == len(resp.content)
    assert line["client.address"] == "127.0.0.1"


@pytest.mark.parametrize("client_cls", [Client, AsyncClient])
async def test_unmatched_route_is_fixed(captured: Captured, client_cls: Any) -> None:
    client = client_cls()
    for path in ("/nope/1/", "/nope/2/?x=1", "/another/thing"):
        resp = client.get(path)
        if client_cls is AsyncClient:
            resp = await resp
        assert resp.status_code == 404
    lines = captured.requests()
    assert [line["http.route"] for line in lines] == [UNMATCHED_ROUTE] * 3
    assert [line["url.path"] for line in lines] == ["/nope/1/", "/nope/2/", "/another/thing"]
    assert {line["level"] for line in lines} == {"WARNING"}
    assert all("view" not in line for line in lines)
    # django.request's own 4xx warning is a second line per 404 only if the
    # project keeps it at WARNING; the request line is there either way.
    assert all(line["http.response.status_code"] == 404 for line in lines)
    # Django logs those 404s after the middleware returned: the filter takes
    # the id from the request the record carries, so they have it too.
    warnings = [e for e in captured.lines() if e["logger"] == "django.request"]
    assert [w["request_id"] for w in warnings] == [line["request_id"] for line in lines]


@pytest.mark.parametrize(
    ("path", "status", "level"),
    [
        ("/redirect/", 302, "INFO"),
        ("/teapot/", 418, "WARNING"),
        ("/unavailable/", 503, "ERROR"),
    ],
)
def test_levels(captured: Captured, path: str, status: int, level: str) -> None:
    resp = Client().get(path)
    assert resp.status_code == status
    line = captured.request()
    assert line["level"] == level
    assert line["http.response.status_code"] == status
    if status >= 500:
        assert line["error.type"] == str(status)
    else:
        assert "error.type" not in line


def test_exception_logged_once(captured: Captured) -> None:
    resp = Client(raise_request_exception=False).get("/boom/?token=hunter2secret")
    assert resp.status_code == 500
    line = captured.request()
    assert line["level"] == "ERROR"
    assert line["error.type"] == "ZeroDivisionError"
    assert line["http.route"] == "boom/"
    assert "exc_info" not in line
    # The traceback is written once, by django.request, with the same id.
    with_tb = [entry for entry in captured.lines() if "exc_info" in entry]
    assert len(with_tb) == 1
    assert with_tb[0]["logger"] == "django.request"
    assert with_tb[0]["request_id"] == line["request_id"] == resp["X-Request-ID"]
    assert "ZeroDivisionError" in with_tb[0]["exc_info"]
    assert captured.raw.count("Traceback (most recent call last)") == 1
    # Django's `request` extra (whose repr has the query string) is dropped.
    assert "hunter2secret" not in captured.raw


async def test_async_exception(captured: Captured) -> None:
    resp = await AsyncClient(raise_request_exception=False).get("/boom/")
    assert resp.status_code == 500
    line = captured.request()
    assert line["level"] == "ERROR" and line["error.type"] == "ZeroDivisionError"
    assert captured.raw.count("Traceback (most recent call last)") == 1


def test_streaming_line_after_last_chunk(captured: Captured) -> None:
    resp = Client().get("/stream/")
    assert captured.requests() == []  # nothing until the body is consumed
    body = b"".join(resp.streaming_content)  # type: ignore[attr-defined]
    line = captured.request()
    assert line["http.response.body.size"] == len(body) == 30
    assert line["request_id"] == resp["X-Request-ID"]


async def test_async_streaming(captured: Captured) -> None:
    resp = await AsyncClient().get("/astream/")
    body = b"".join([chunk async for chunk in resp.streaming_content])  # type: ignore[attr-defined]
    line = captured.request()
    assert line["http.response.body.size"] == len(body) == 12
    assert line["request_id"] == resp["X-Request-ID"]


def test_trace_context(captured: Captured) -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    resp = Client().get("/api/posts/1/", headers={"traceparent": tp})
    assert resp.status_code == 200
    lines = captured.lines()
    assert len(lines) == 3
    for entry in lines:
        assert entry["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert entry["span_id"] == "00f067aa0ba902b7"


@pytest.mark.django_db
def test_db_fields_from_the_query_monitor(captured: Captured) -> None:
    assert Client().get("/two-queries/").status_code == 200
    line = captured.request()
    assert line["db.query_count"] == 2
    assert isinstance(line["db.duration_ms"], float) and line["db.duration_ms"] > 0


@pytest.mark.django_db(transaction=True)
async def test_db_fields_from_the_query_monitor_async(captured: Captured) -> None:
    from asgiref.sync import sync_to_async
    from django.db import connections

    try:
        resp = await AsyncClient().get("/two-queries/")  # sync view: a thread hop
    finally:
        # The test client keeps Django from closing the worker thread's
        # connection; an open session would block dropping the test database.
        await sync_to_async(connections.close_all)()
    assert resp.status_code == 200
    assert captured.request()["db.query_count"] == 2


def test_db_fields(captured: Captured) -> None:
    Client().get("/with-db/")
    line = captured.request()
    assert line["db.query_count"] == 3
    assert line["db.duration_ms"] == pytest.approx(4.2)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("int", "12345"), ("uuid", "00000000-0000-0000-0000-000000000007"), ("long", "u" * 128)],
)
def test_non_string_user_id(captured: Captured, kind: str, expected: str) -> None:
    resp = Client().get(f"/odd-user/?kind={kind}")
    assert resp.status_code == 200 and resp.content == b"ok"
    assert captured.request()["user.id"] == expected


@pytest.mark.django_db
def test_user_id_when_loaded(captured: Captured) -> None:
    client = Client()
    pk = client.get("/login/").content.decode()
    captured.clear()
    client.get("/whoami/")
    assert captured.request()["user.id"] == pk
    with override_settings(OPSKIT={"LOGGING": {"LOG_USER_ID": False}}):
        captured.clear()
        client.get("/whoami/")
        assert "user.id" not in captured.request()


def test_client_address_off(captured: Captured) -> None:
    with override_settings(OPSKIT={"LOGGING": {"LOG_CLIENT_ADDRESS": False}}):
        Client().get("/api/posts/1/", REMOTE_ADDR="198.51.100.7")
    line = captured.request()
    assert "client.address" not in line
    assert "198.51.100.7" not in captured.raw


def test_path_is_bounded(captured: Captured) -> None:
    with override_settings(OPSKIT={"LOGGING": {"MAX_PATH_LENGTH": 40}}):
        Client().get("/" + "a" * 5000)
    line = captured.request()
    assert line["url.path"] == "/" + "a" * 39
    [raw] = [r for r in captured.raw.splitlines() if '"opskit.request"' in r]
    assert len(raw) < 400


def test_probe_paths_skipped_by_default(captured: Captured) -> None:
    client = Client()
    for path in ("/livez", "/readyz", "/healthz", "/health/db", "/metrics"):
        client.get(path)
    assert captured.requests() == []
    client.get("/healthcheck-not-a-probe/")
    assert captured.request()["url.path"] == "/healthcheck-not-a-probe/"


def test_custom_skip_paths(captured: Captured) -> None:
    with override_settings(OPSKIT={"LOGGING": {"SKIP_PATHS": ["/api/posts/"]}}):
        Client().get("/api/posts/1/")
        Client().get("/livez")
    assert [line["url.path"] for line in captured.requests()] == ["/livez"]


def test_sampling_keeps_errors_and_slow(captured: Captured) -> None:
    client = Client(raise_request_exception=False)
    with override_settings(
        OPSKIT={"LOGGING": {"SAMPLE_RATE": 0.0}, "SLOW_REQUESTS": {"THRESHOLD_MS": 60_000.0}}
    ):
        for _ in range(5):
            client.get("/api/posts/1/")
        client.get("/nope/")
        client.get("/boom/")
    assert [line["http.response.status_code"] for line in captured.requests()] == [404, 500]
    captured.clear()
    with override_settings(
        OPSKIT={"LOGGING": {"SAMPLE_RATE": 0.0}, "SLOW_REQUESTS": {"THRESHOLD_MS": 0.0}}
    ):
        client.get("/api/posts/1/")  # every request is "slow" at 0 ms
    assert [line["http.response.status_code"] for line in captured.requests()] == [200]


def test_sampling_rate_half(captured: Captured) -> None:
    with override_settings(OPSKIT={"LOGGING": {"SAMPLE_RATE": 0.5}}):
        client = Client()
        for _ in range(200):
            client.get("/redirect/")
    kept = len(captured.requests())
    assert 40 < kept < 160  # binomial(200, 0.5): far outside 6 sigma


def test_disabled_and_custom_logger(captured: Captured) -> None:
    with override_settings(OPSKIT={"LOGGING": {"ENABLED": False}}):
        Client().get("/api/posts/1/")
    assert captured.requests() == []
    with override_settings(OPSKIT={"LOGGING": {"LOGGER": "myapp.access"}}):
        Client().get("/api/posts/1/")
    [line] = [entry for entry in captured.lines() if entry["logger"] == "myapp.access"]
    assert line["http.route"] == "api/posts/<int:pk>/"
