"""Requests through Django's production handlers, as a server would make them.

The test client skips the server-facing layer (ASGI scope, ``client``
address, streamed bodies); these helpers go through ``ASGIHandler`` and
``WSGIHandler`` themselves, one request at a time.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from typing import Any
from urllib.parse import urlsplit

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler


class Served:
    """A response from Django's production handlers (not the test client)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def asgi_get(
    path: str,
    *,
    app: ASGIHandler | None = None,
    client: tuple[str, int] = ("127.0.0.1", 1234),
    **headers: str,
) -> Served:
    """GET ``path`` (query string allowed) through ``ASGIHandler``, as uvicorn would.

    ``headers`` are header names with ``_`` for ``-`` (``user_agent="x"``).
    The client never disconnects: Django's disconnect watcher is cancelled
    once the response is sent.
    """
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
        "client": client,
        "server": ("testserver", 80),
    }
    got: dict[str, Any] = {"body": b""}
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            got["status"] = message["status"]
            got["headers"] = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            got["body"] += message.get("body", b"")

    await (app or ASGIHandler())(scope, receive, send)
    return Served(got["status"], got["headers"], got["body"])


def wsgi_get(path: str, **headers: str) -> Served:
    """GET ``path`` through ``WSGIHandler``: the entry point WSGI servers call."""
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
