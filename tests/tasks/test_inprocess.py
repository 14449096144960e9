"""Tasks run eagerly in the test process, and outgoing HTTP calls."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client

from opskit.context import RequestRecord
from opskit.propagation import correlation_id, outgoing_headers, traceparent

from .celeryapp import app, count_rows

pytestmark = pytest.mark.urls("tests.tasks.urls")


@pytest.fixture
def eager() -> Iterator[None]:
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def _task_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "opskit.task"]


@pytest.mark.django_db
@pytest.mark.usefixtures("eager")
def test_an_eager_task_in_a_request_names_the_request(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="opskit.task")
    rid = uuid.uuid4().hex
    response = Client().get("/eager/", HTTP_X_REQUEST_ID=rid)
    assert response.json() == {"result": 4}
    (line,) = _task_lines(caplog)
    fields = line.__dict__
    assert fields["parent_request_id"] == rid
    assert fields["request_id"] != rid
    assert fields["task.name"] == "tests.count_rows"
    assert fields["task.state"] == "succeeded"
    assert fields["db.query_count"] == 4
    assert line.getMessage().startswith("task tests.count_rows succeeded ")
    # The request's own record is active again after the task.
    request_lines = [r for r in caplog.records if r.name == "opskit.request"]
    assert all(r.__dict__["request_id"] == rid for r in request_lines)


@pytest.mark.django_db
def test_a_slow_task_warns_once_with_its_own_threshold(
    caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    settings.OPSKIT = {
        "RATELIMIT": {"BACKEND": "cache", "CACHE": "default"},
        "TASKS": {"SLOW_TASK_MS": None, "SLOW_TASKS": {"tests.count_rows": 0.0}},
    }
    caplog.set_level(logging.INFO)
    count_rows.apply(args=(1,))
    slow = [r for r in caplog.records if r.__dict__.get("event") == "slow_task"]
    assert len(slow) == 1 and slow[0].__dict__["task.name"] == "tests.count_rows"
    caplog.clear()
    from .celeryapp import log_something

    log_something.apply(args=("x",))  # no threshold of its own, global off
    assert not [r for r in caplog.records if r.__dict__.get("event") == "slow_task"]


def test_no_headers_outside_a_request() -> None:
    assert outgoing_headers() == {}
    assert correlation_id() is None and traceparent() is None


def test_a_task_record_forwards_the_chain_not_its_own_id() -> None:
    record = RequestRecord("a" * 32)
    record.extra["parent_request_id"] = "b" * 32
    headers = outgoing_headers(record)
    assert headers["X-Request-ID"] == "b" * 32
    assert headers["traceparent"].startswith(f"00-{'b' * 32}-")
    # A request id that is no trace id gives no traceparent (never an invalid one).
    assert traceparent(RequestRecord("not-a-trace-id")) is None


@pytest.fixture
def echo() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_outgoing_calls_carry_the_request_id(echo: str) -> None:
    rid = uuid.uuid4().hex
    seen = Client().get("/call-out/", {"url": echo}, HTTP_X_REQUEST_ID=rid).json()
    assert seen["requests"]["x-request-id"] == rid
    assert seen["requests"]["traceparent"].startswith(f"00-{rid}-")
    # A header the caller set wins.
    assert seen["httpx"]["x-request-id"] == "mine-12345"
    assert seen["httpx"]["traceparent"].startswith(f"00-{rid}-")
