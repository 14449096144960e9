"""A real Sentry ingest stand-in: an HTTP server in the test process.

sentry-sdk sends real envelopes over HTTP to the DSN; the sink decodes them
so the tests assert on exactly what would reach Sentry.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from django.test import override_settings

import opskit.sentry


def parse_envelope(data: bytes) -> list[tuple[dict[str, Any], Any]]:
    """(item header, payload) pairs of one envelope."""
    items = []
    newline = data.find(b"\n")
    pos = len(data) if newline < 0 else newline + 1
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        line = data[pos:end]
        pos = end + 1
        if not line.strip():
            continue
        header = json.loads(line)
        length = header.get("length")
        if length is not None:
            payload = data[pos : pos + length]
            pos += length + 1
        else:
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            payload = data[pos:end]
            pos = end + 1
        try:
            body: Any = json.loads(payload)
        except ValueError:
            body = payload
        items.append((header, body))
    return items


class Sink:
    def __init__(self) -> None:
        self.items: list[tuple[dict[str, Any], Any]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with sink.lock:
                    sink.items += parse_envelope(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"

    def clear(self) -> None:
        with self.lock:
            self.items.clear()

    def of_type(self, kind: str) -> list[Any]:
        with self.lock:
            return [body for header, body in self.items if header.get("type") == kind]

    def events(self, *, flush: bool = True) -> list[dict[str, Any]]:
        if flush:
            sentry_sdk.flush(timeout=5)
        return self.of_type("event")

    def transactions(self, *, flush: bool = True) -> list[dict[str, Any]]:
        if flush:
            sentry_sdk.flush(timeout=5)
        return self.of_type("transaction")

    def wait_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if len(events) >= count or time.monotonic() > deadline:
                return events
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.close()


def clear_scopes() -> None:
    """Forget what earlier tests left on this thread's Sentry scopes.

    The test client does not go through sentry-sdk's WSGI middleware, so the
    DjangoIntegration's per-request event processors pile up on the test
    thread's scopes (in production each request has its own).
    """
    for scope in (sentry_sdk.get_current_scope(), sentry_sdk.get_isolation_scope()):
        scope.clear()
        scope._event_processors.clear()  # clear() keeps them


@pytest.fixture(scope="session", autouse=True)
def _django_integration_installed(sink: Sink) -> None:
    """Install sentry-sdk's DjangoIntegration once, first.

    sentry-sdk sets an integration up once per process, and an init that
    disables it (opskit's lean mode) marks it processed for good; a real
    process inits once, the tests init in both modes.
    """
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(dsn=sink.dsn, integrations=[DjangoIntegration()])
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)


@pytest.fixture
def sentry_on(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Sink]]:
    """Initialise Sentry through opskit for one test; always torn down."""
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    overrides: list[Any] = []

    def on(base: dict[str, Any] | None = None, **sentry: Any) -> Sink:
        cfg = dict(base or {})
        cfg["SENTRY"] = {"DSN": sink.dsn, **sentry}
        o = override_settings(OPSKIT=cfg)
        o.enable()
        overrides.append(o)
        sink.clear()
        clear_scopes()
        opskit.sentry.setup()
        assert opskit.sentry.is_active()
        return sink

    try:
        yield on
    finally:
        opskit.sentry.shutdown()
        sentry_sdk.get_global_scope().set_client(None)
        for o in reversed(overrides):
            o.disable()
        clear_scopes()
        sink.clear()


class Served:
    """A response from Django's production handlers (not the test client)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


def wsgi_get(path: str, **headers: str) -> Served:
    """GET through ``WSGIHandler``: the entry point sentry-sdk instruments."""
    import io
    import sys
    from urllib.parse import urlsplit

    from django.core.handlers.wsgi import WSGIHandler

    parts = urlsplit(path)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    got: dict[str, Any] = {}

    def start_response(status: str, response_headers: Any, exc_info: Any = None) -> None:
        got["status"] = int(status.split()[0])
        got["headers"] = {k.lower(): v for k, v in response_headers}

    result = WSGIHandler()(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return Served(got["status"], got["headers"], body)


async def asgi_get(path: str, **headers: str) -> Served:
    """GET through ``ASGIHandler``, as uvicorn would call it."""
    import asyncio
    from urllib.parse import urlsplit

    from django.core.handlers.asgi import ASGIHandler

    parts = urlsplit(path)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "headers": [(b"host", b"testserver")]
        + [(k.lower().replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    got: dict[str, Any] = {"body": b""}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            got["status"] = message["status"]
            got["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            got["body"] += message.get("body", b"")

    await ASGIHandler()(scope, receive, send)
    return Served(got["status"], got["headers"], got["body"])
