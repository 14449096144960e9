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
