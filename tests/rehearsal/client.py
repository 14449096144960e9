"""A bounded HTTP load client on loopback: every loop ends by count and time."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

Plan = Iterable[tuple[str, str, dict[str, str]]]


@dataclass
class Result:
    method: str
    path: str
    status: int
    seconds: float
    request_id: str | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: time.monotonic() when the request was sent.
    sent: float = 0.0
    #: The headers this request was sent with.
    request_headers: dict[str, str] = field(default_factory=dict)


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
    conn: http.client.HTTPConnection | None = None,
) -> Result:
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    sent = time.monotonic()
    t0 = time.perf_counter()
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        seconds = time.perf_counter() - t0
        return Result(method, path, r.status, seconds, hdrs.get("x-request-id"), hdrs, data, sent)
    finally:
        if own:
            c.close()


def run_load(
    port: int,
    plan: Plan,
    concurrency: int = 16,
    max_seconds: float = 120.0,
    keep_body: bool = False,
    timeout: float = 15.0,
) -> list[Result]:
    """Send every (method, path, headers) of ``plan`` with ``concurrency`` clients.

    Keep-alive connections, so requests spread over the workers the way a
    proxy's connection pool spreads them.  A transport error is recorded as
    status 599 (never retried: the rehearsal counts what it sent).
    """
    items = list(plan)
    lock = threading.Lock()
    results: list[Result] = []
    index = 0
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal index
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        while time.monotonic() < deadline:
            with lock:
                if index >= len(items):
                    break
                method, path, headers = items[index]
                index += 1
            sent = time.monotonic()
            try:
                res = request(port, method, path, headers, conn=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
                res = Result(method, path, 599, time.monotonic() - sent, None, sent=sent)
            res.request_headers = headers
            if not keep_body:
                res.body = b""
            with lock:
                results.append(res)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + timeout + 5)
    return results


def raw(port: int, payload: bytes, timeout: float = 5.0, max_bytes: int = 1 << 20) -> bytes:
    """Send raw bytes, return what comes back before close, timeout or ``max_bytes``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(payload)
        except OSError:
            pass  # the server may refuse mid-send (a huge header): read its answer
        chunks: list[bytes] = []
        total = 0
        deadline = time.monotonic() + timeout
        try:
            while total < max_bytes and time.monotonic() < deadline:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
                total += len(data)
        except OSError:
            pass
        return b"".join(chunks)


def raw_status(response: bytes) -> int | None:
    """The status code of a raw HTTP/1.x response, or None when there is none."""
    first = response.split(b"\r\n", 1)[0].split()
    if len(first) >= 2 and first[0].startswith(b"HTTP/") and first[1].isdigit():
        return int(first[1])
    return None


def raw_header(response: bytes, name: str) -> str | None:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]


def latency_summary(results: list[Result]) -> dict[str, float | int]:
    """p50/p95/max in milliseconds and the count."""
    secs = [r.seconds for r in results]
    return {
        "count": len(secs),
        "p50_ms": round(percentile(secs, 50) * 1000, 1),
        "p95_ms": round(percentile(secs, 95) * 1000, 1),
        "max_ms": round(max(secs, default=0.0) * 1000, 1),
    }
