"""A bounded HTTP load client on loopback: every loop ends by count and time."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Result:
    method: str
    path: str
    status: int
    seconds: float
    request_id: str | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


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
    t0 = time.perf_counter()
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        return Result(method, path, r.status, time.perf_counter() - t0, hdrs.get("x-request-id"), hdrs, data)
    finally:
        if own:
            c.close()


def run_load(
    port: int,
    plan: Iterable[tuple[str, str, dict[str, str]]],
    concurrency: int = 16,
    max_seconds: float = 120.0,
    keep_body: bool = False,
) -> list[Result]:
    """Send every (method, path, headers) of ``plan`` with ``concurrency`` clients."""
    items = list(plan)
    lock = threading.Lock()
    results: list[Result] = []
    index = 0
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        nonlocal index
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        while time.monotonic() < deadline:
            with lock:
                if index >= len(items):
                    break
                method, path, headers = items[index]
                index += 1
            try:
                res = request(port, method, path, headers, conn=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                res = Result(method, path, 599, 0.0, None)
            if not keep_body:
                res.body = b""
            with lock:
                results.append(res)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 30)
    return results


def raw(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return what comes back before close or timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except TimeoutError:
            pass
        return b"".join(chunks)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    v = sorted(values)
    k = min(len(v) - 1, max(0, round(p / 100 * (len(v) - 1))))
    return v[k]
