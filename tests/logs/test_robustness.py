"""Bad input and broken logging never break a request, and every line is JSON.

Property tests drive Django's real WSGI and ASGI handlers (through the test
clients) with arbitrary paths, headers and methods.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opskit.logs import JsonFormatter, RequestIdFilter

from .conftest import Captured

LOUD = {
    "LOGGING": {
        "LOG_QUERY_STRING": True,
        "LOG_USER_AGENT": True,
        "LOG_HEADERS": ["X-Tenant", "Authorization", "X-Forwarded-For"],
    },
    "TRUSTED_PROXIES": ["127.0.0.0/8"],
}

paths = st.one_of(
    st.binary(max_size=80).map(lambda b: "/p/" + quote_from_bytes(b, safe="/")),
    st.integers(min_value=0, max_value=10**30).map(lambda i: f"/api/posts/{i}/"),
    st.text(max_size=40).map(
        lambda t: "/p/" + quote_from_bytes(t.encode("utf-8", "surrogatepass"))
    ),
)
queries = st.one_of(st.just(""), st.binary(max_size=60).map(lambda b: "?" + quote_from_bytes(b)))
header_names = st.one_of(
    st.sampled_from(
        [
            "X-Request-ID",
            "Traceparent",
            "X-Forwarded-For",
            "User-Agent",
            "X-Tenant",
            "Authorization",
        ]
    ),
    st.from_regex(r"X-[A-Za-z0-9-]{1,16}", fullmatch=True),
)
header_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=200),
    st.sampled_from(
        [
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "1.2.3.4, 10.0.0.1",
            "\r\nInjected: yes",
            "abcdefgh-valid-id",
        ]
    ),
)
headers = st.dictionaries(header_names, header_values, max_size=6)
methods = st.one_of(
    st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "PROPFIND"]),
    st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True),
)


def check_output(captured: Captured, status: int, rid: str) -> None:
    assert status != 500
    raw = captured.raw
    assert raw.endswith("\n")
    lines = [json.loads(line) for line in raw.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    raw.encode("ascii")  # pure ASCII: no stream encoding can fail
    [req] = [line for line in lines if line["logger"] == "opskit.request"]
    assert req["http.response.status_code"] == status
    assert req["request_id"] == rid
    assert {line["request_id"] for line in lines} == {rid}


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(method=methods, path=paths, query=queries, hdrs=headers)
def test_wsgi_fuzz(
    captured: Captured, method: str, path: str, query: str, hdrs: dict[str, str]
) -> None:
    captured.clear()
    with override_settings(OPSKIT=LOUD):
        resp = Client().generic(method, path + query, headers=hdrs)
    check_output(captured, resp.status_code, resp["X-Request-ID"])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(method=methods, path=paths, query=queries, hdrs=headers)
def test_asgi_fuzz(
    captured: Captured, method: str, path: str, query: str, hdrs: dict[str, str]
) -> None:
    captured.clear()
    with override_settings(OPSKIT=LOUD):

        async def call() -> Any:
            return await AsyncClient().generic(method, path + query, headers=hdrs)

        resp = async_to_sync(call)()
    check_output(captured, resp.status_code, resp["X-Request-ID"])


def test_invalid_utf8_path(captured: Captured) -> None:
    resp = Client().get("/p/%ff%fe%c3%28/%ed%b3%bf")
    assert resp.status_code == 404
    line = captured.request()
    assert line["url.path"].startswith("/p/")
    captured.raw.encode("ascii")


def test_100kb_header(captured: Captured) -> None:
    big = "A" * 100_000
    opskit = {"LOGGING": {"LOG_HEADERS": ["X-Big"], "LOG_USER_AGENT": True}}
    with override_settings(OPSKIT=opskit):
        resp = Client().get(
            "/api/posts/1/",
            headers={"X-Big": big, "User-Agent": big, "X-Request-ID": big, "X-Forwarded-For": big},
        )
    assert resp.status_code == 200 and resp.json() == {"pk": 1}
    line = captured.request()
    assert line["http.request.header.x-big"] == "A" * 256
    assert line["user_agent.original"] == "A" * 256
    assert len(captured.raw) < 2000


def test_crlf_in_user_agent_and_headers(captured: Captured) -> None:
    opskit = {"LOGGING": {"LOG_HEADERS": ["X-Tenant"], "LOG_USER_AGENT": True}}
    with override_settings(OPSKIT=opskit):
        Client().get(
            "/api/posts/1/",
            headers={"User-Agent": 'ua\r\n{"forged": 1}\n', "X-Tenant": "t\ru\nv\x00"},
        )
    line = captured.request()
    assert line["user_agent.original"] == 'ua\r\n{"forged": 1}\n'
    assert line["http.request.header.x-tenant"] == "t\ru\nv\x00"
    # Two lines from the view, one request line: CR/LF split nothing.
    assert [json.loads(raw)["logger"] for raw in captured.raw.splitlines()] == [
        "tests.logs.user",
        "tests.logs.user",
        "opskit.request",
    ]


# -- broken logging setups -------------------------------------------------------


class RaisingHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("handler down")

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        # Bypass logging's own handleError: the exception reaches the caller.
        self.emit(record)
        return True


class RaisingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        raise RuntimeError("formatter down")


class RaisingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        raise RuntimeError("filter down")


@pytest.fixture
def request_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("opskit.request")
    old = list(logger.handlers), list(logger.filters)
    try:
        yield logger
    finally:
        logger.handlers[:], logger.filters[:] = old


def _broken_parts() -> list[Any]:
    formatted = logging.StreamHandler(io.StringIO())
    formatted.setFormatter(RaisingFormatter())
    filtered = logging.StreamHandler(io.StringIO())
    filtered.addFilter(RaisingFilter())
    return [RaisingHandler(), formatted, filtered]


@pytest.mark.parametrize("part", range(3), ids=["handler", "formatter", "filter"])
@pytest.mark.parametrize("client_cls", [Client, AsyncClient])
async def test_broken_logging_does_not_break_the_response(
    captured: Captured, request_logger: logging.Logger, part: int, client_cls: type
) -> None:
    request_logger.addHandler(_broken_parts()[part])
    logging.raiseExceptions, old = False, logging.raiseExceptions  # no stderr noise
    try:
        client = client_cls()
        for path, status in (("/api/posts/5/", 200), ("/teapot/", 418)):
            resp = client.get(path)
            if client_cls is AsyncClient:
                resp = await resp
            assert resp.status_code == status
            if status == 200:
                assert resp.json() == {"pk": 5}
            assert resp["X-Request-ID"]
    finally:
        logging.raiseExceptions = old
    # Whatever reached the good handler is still one JSON object per line.
    assert all(isinstance(json.loads(line), dict) for line in captured.raw.splitlines())


def test_json_formatter_on_a_real_request_with_unencodable_extras(captured: Captured) -> None:
    # A filter that adds awkward values to every record of the request.
    class Awkward(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.nan = float("nan")
            record.blob = b"\xff\x00"
            record.surrogate = "x\udcff"
            return True

    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(Awkward())
    logger = logging.getLogger("opskit.request")
    logger.addHandler(handler)
    try:
        resp = Client().get("/api/posts/1/")
    finally:
        logger.removeHandler(handler)
    [raw] = handler.stream.getvalue().splitlines()
    line = json.loads(raw)
    assert line["request_id"] == resp["X-Request-ID"]
    assert line["nan"] == "nan" and line["surrogate"] == "x?"


def test_record_factory_that_sets_request_id(captured: Captured) -> None:
    """Projects with their own correlation often add ``request_id`` in a factory."""
    old = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old(*args, **kwargs)
        record.request_id = "from-factory"
        return record

    logging.setLogRecordFactory(factory)
    try:
        resp = Client().get("/api/posts/1/")
    finally:
        logging.setLogRecordFactory(old)
    assert captured.request()["request_id"] == resp["X-Request-ID"]
