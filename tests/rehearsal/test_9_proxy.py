"""Scenario 9: behind a reverse proxy on the same host, hostile forwarding headers.

A tiny forwarding proxy runs on loopback in front of the stack's gunicorn
(``TRUSTED_PROXIES`` = loopback, as a same-host nginx or HAProxy would be).
Like nginx's ``$proxy_add_x_forwarded_for`` it appends its client's address
to ``X-Forwarded-For``; everything here is loopback, so it appends a fixed
remote address instead: the client it stands for is on the internet.  The
audit's attack (an ``X-Forwarded-For`` over 4,096 characters made the client
the proxy, i.e. loopback) must get 403 on ``/metrics``, no ``Server-Timing``
and no check names.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import stop_process

from .conftest import HEALTH_TOKEN, Stack
from .stack import DEMO, free_port, wait_port

pytestmark = pytest.mark.rehearsal

#: The address the proxy appends: the remote client it stands for.
REMOTE = "203.0.113.7"
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}


class ForwardingProxy:
    """A reverse proxy that appends ``REMOTE`` to ``X-Forwarded-For``."""

    def __init__(self, upstream_port: int) -> None:
        upstream = upstream_port

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                sent = self.headers.get_all("X-Forwarded-For") or []
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in _HOP_BY_HOP and k.lower() != "x-forwarded-for"
                }
                headers["X-Forwarded-For"] = ", ".join([*sent, REMOTE])
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=15)
                try:
                    conn.request(self.command, self.path, headers=headers)
                    resp = conn.getresponse()
                    body = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                finally:
                    conn.close()

            do_GET = do_HEAD = _forward

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            conn.request("GET", path, headers=headers or {})
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(stack: Stack) -> Iterator[ForwardingProxy]:
    p = ForwardingProxy(stack.port)
    try:
        yield p
    finally:
        p.close()


HOSTILE = {
    "oversized, then the client's address": "j" * 4100 + ", " + REMOTE,
    "oversized, then loopback": "j" * 4100 + ", 127.0.0.1",
    "oversized, all loopback": ", ".join(["127.0.0.1"] * 500),
    "zone id": "127.0.0.1, fe80::1%INJECT",
    "free text": "127.0.0.1, unknown",
    "loopback spoof": "127.0.0.1",
}


def test_hostile_forwarding_headers_gain_nothing(
    stack: Stack, proxy: ForwardingProxy, scenario: dict[str, Any]
) -> None:
    since = stack.gunicorn.log_size()
    # The gate is not simply closed: a direct loopback scrape is allowed.
    direct = stack.get("/metrics")
    assert direct.status == 200
    assert "server-timing" in stack.get("/api/posts/?limit=1").headers
    outcomes: dict[str, str] = {}
    for name, header in HOSTILE.items():
        status, _, body = proxy.get("/metrics", {"X-Forwarded-For": header})
        assert status == 403, (name, status)
        assert b"http_server" not in body
        status, headers, _ = proxy.get("/api/posts/?limit=1", {"X-Forwarded-For": header})
        assert status == 200 and "server-timing" not in headers, name
        real = proxy.get("/readyz/db.default", {"X-Forwarded-For": header})
        made_up = proxy.get("/readyz/no.such.check", {"X-Forwarded-For": header})
        assert (real[0], real[2]) == (made_up[0], made_up[2]) == (404, b'{"status":"fail"}'), name
        outcomes[name] = "403, no Server-Timing, check names hidden"
    # The token still opens the details through the proxy.
    status, _, body = proxy.get(
        "/readyz/db.default?verbose", {"Authorization": f"Bearer {HEALTH_TOKEN}"}
    )
    assert status == 200 and b"db.default" in body
    # The log names the remote client, never loopback and never the zone id.
    lines = [
        r
        for r in stack.gunicorn.records(since)
        if r.get("logger") == "opskit.request" and r.get("url.path") == "/metrics"
    ]
    proxied = [r for r in lines if r.get("client.address") != "127.0.0.1"]
    assert len(proxied) >= len(HOSTILE)
    assert {r.get("client.address") for r in proxied} == {REMOTE}
    raw = "\n".join(json.dumps(r) for r in stack.gunicorn.records(since))
    assert "INJECT" not in raw
    scenario["counts"] = {
        "proxy": "Python forwarding proxy on loopback, appends the remote client to X-Forwarded-For",
        "TRUSTED_PROXIES": "127.0.0.0/8, ::1/128",
        **{f"X-Forwarded-For: {k}": v for k, v in outcomes.items()},
    }


@contextlib.contextmanager
def uvicorn(stack: Stack, *flags: str) -> Iterator[tuple[int, Path]]:
    """The demo under uvicorn (one process, the rehearsal's settings)."""
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="opskit-rehearsal-uvicorn-"))
    (tmp / "metrics").mkdir()
    env = {**stack.gunicorn.env, "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")}
    log = tmp / "uvicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "demo.asgi:application"),
                *("--host", "127.0.0.1", "--port", str(port), "--no-access-log", *flags),
            ],
            cwd=DEMO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port, 30)
        yield port, log
    finally:
        stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)


WARNING = "TRUSTED_PROXIES does not decide the client address"


@pytest.mark.parametrize(
    "flags", [(), ("--no-proxy-headers",)], ids=["default", "no-proxy-headers"]
)
def test_uvicorn_proxy_headers_are_reported_and_gain_nothing(
    stack: Stack, flags: tuple[str, ...], scenario: dict[str, Any]
) -> None:
    """uvicorn applies X-Forwarded-For itself unless told not to: opskit says so."""
    with uvicorn(stack, *flags) as (port, log):
        p = ForwardingProxy(port)
        try:
            status, _, _ = p.get("/livez")
            assert status == 200
            for name, header in HOSTILE.items():
                status, _, body = p.get("/metrics", {"X-Forwarded-For": header})
                assert status == 403 and b"http_server" not in body, (flags, name, status)
                status, headers, _ = p.get("/api/posts/?limit=1", {"X-Forwarded-For": header})
                assert status == 200 and "server-timing" not in headers, (flags, name)
        finally:
            p.close()
        direct = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            direct.request("GET", "/metrics")
            assert direct.getresponse().status == 200  # loopback, no header: proven
        finally:
            direct.close()
        text = log.read_text(errors="replace")
    warned = WARNING in text
    assert warned is (not flags), text[-2000:]
    assert "INJECT" not in text
    scenario["counts"][f"uvicorn {' '.join(flags) or '(default flags)'}"] = (
        f"startup warning: {'yes' if warned else 'no'}; hostile X-Forwarded-For: 403 on /metrics"
    )
