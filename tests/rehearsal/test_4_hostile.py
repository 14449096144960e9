"""Scenario 4: hostile input over raw sockets."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from . import client
from .client import latency_summary, raw, raw_header, raw_status
from .conftest import HEALTH_TOKEN, MARGIN, RATE_LIMIT, Stack, Tally, check_workers, series

pytestmark = pytest.mark.rehearsal

#: Slow clients dripping a header byte every DRIP seconds for SLOW_SECONDS.
SLOW_CLIENTS = 2
SLOW_SECONDS = 3.0
DRIP = 0.5


def req(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b""
) -> bytes:
    head = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    head += [k + b": " + v for k, v in headers]
    if body:
        head.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def cases(tag: str) -> list[tuple[str, bytes, list[str]]]:
    """(name, raw request, strings that must never come back or be logged)."""
    t = tag.encode()
    forged = [
        f"forged-{tag}\r\nSet-Cookie: pwned=1",
        f'forged-{tag}"}},{{"level":"CRITICAL"',
        f"forged-{tag}-" + "x" * 300,
        f"<script>forged-{tag}</script>",
    ]
    secret = f"secret-{tag}"
    out: list[tuple[str, bytes, list[str]]] = [
        ("invalid UTF-8 path (raw bytes)", req(b"GET", b"/posts/\xff\xfe\xc3(" + t + b"/"), []),
        (
            "invalid UTF-8 path (percent-encoded)",
            req(b"GET", b"/api/posts/%ff%fe%c3%28" + t + b"/"),
            [],
        ),
        ("invalid UTF-8 query", req(b"GET", b"/api/posts/?search=%ff%fe" + t), []),
        ("64 KB header", req(b"GET", b"/", [(b"X-Big-" + t, b"a" * 65536)]), []),
        (
            "64 KB of headers (8 x 8 KB)",
            req(b"GET", b"/", [(b"X-Part-%d" % i, b"b" * 8000) for i in range(8)]),
            [],
        ),
        ("bare CR in a header", req(b"GET", b"/", [(b"X-Test", b"a\rb" + t)]), []),
        ("NUL in a header", req(b"GET", b"/", [(b"User-Agent", b"a\x00b" + t)]), []),
        (
            "JSON-breaking user agent and referer",
            req(
                b"GET",
                b"/api/posts/?limit=1",
                [
                    (b"User-Agent", b'"},{"level":"CRITICAL","x":"\\' + t + b"\\u0000\\n"),
                    (b"Referer", b"'\"}]}\\\\" + t + b"\\r\\n{"),
                ],
            ),
            [],
        ),
        ("ESC and DEL in a header", req(b"GET", b"/", [(b"Referer", b"\x1b[31mred\x7f" + t)]), []),
        (
            "latin-1 and invalid UTF-8 in headers",
            req(b"GET", b"/", [(b"User-Agent", b"\xe9\xff\xfe" + t)]),
            [],
        ),
        (
            "garbage X-Forwarded-For",
            req(
                b"GET",
                b"/rehearsal/open/",
                [
                    (b"X-Forwarded-For", b'"},{"x":1}, ::ffff:zz, 999.1.1.1, ' + t),
                ],
            ),
            [],
        ),
        ("garbage traceparent", req(b"GET", b"/", [(b"traceparent", b"00-" + t + b"-zz-01")]), []),
        ("unknown method FOO", req(b"FOO", b"/"), []),
        ("unknown method PROPFIND", req(b"PROPFIND", b"/api/posts/"), []),
        ("long unknown method", req(b"X" * 40, b"/livez"), []),
        (
            "secrets in headers and query",
            req(
                b"GET",
                b"/api/posts/?token=" + secret.encode() + b"&limit=1",
                [
                    (b"Authorization", b"Bearer " + HEALTH_TOKEN.encode()),
                    (b"Cookie", b"sessionid=" + secret.encode()),
                    (b"X-Api-Key", secret.encode()),
                ],
            ),
            [secret, HEALTH_TOKEN],
        ),
        (
            "truncated POST body (CSRF refuses before reading it)",
            req(b"POST", b"/rehearsal/open/", [(b"Content-Length", b"1000")]) + b"only-a-little",
            [],
        ),
        (
            "truncated POST body to the login form",
            req(
                b"POST",
                b"/accounts/login/",
                [
                    (b"Content-Type", b"application/x-www-form-urlencoded"),
                    (b"Content-Length", b"5000"),
                ],
            )
            + b"username=a&password=",
            [],
        ),
    ]
    for i, fid in enumerate(forged):
        # CR/LF in raw bytes ends the header line: what must never come back
        # is the injected line (a response header), the rest is a valid id.
        never = ["pwned"] if "\r\n" in fid else [fid]
        out.append(
            (
                f"forged X-Request-ID #{i + 1}",
                req(b"GET", b"/livez", [(b"X-Request-ID", fid.encode())]),
                never,
            )
        )
    out.append(
        (
            "bare CR in X-Request-ID",
            req(b"GET", b"/livez", [(b"X-Request-ID", b"forged-" + t + b"\rX-Evil: 1")]),
            ["X-Evil"],
        )
    )
    return out


def slowloris(port: int, stop: threading.Event) -> int:
    """Hold one connection with a partial request, one byte every DRIP s."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        deadline = time.monotonic() + SLOW_SECONDS
        while time.monotonic() < deadline and not stop.is_set():
            try:
                s.sendall(b"a")
            except OSError:
                break
            sent += 1
            time.sleep(DRIP)
    return sent


def run_round(stack: Stack, tag: str) -> list[dict[str, Any]]:
    out = []
    for name, payload, never in cases(tag):
        t0 = time.perf_counter()
        response = raw(stack.port, payload, timeout=5.0)
        out.append(
            {
                "name": name,
                "status": raw_status(response),
                "seconds": time.perf_counter() - t0,
                "request_id": raw_header(response, "X-Request-ID"),
                "response": response,
                "never": never,
            }
        )
    return out


def test_hostile_input(stack: Stack, scenario: dict[str, Any]) -> None:
    g = stack.gunicorn
    pids = g.worker_pids()
    err_since, since = g.err_size(), g.log_size()

    primed = run_round(stack, "prime" + os.urandom(3).hex())  # every label value seen once
    stack.scrape()  # the scrape's own series exist from now on
    series_before = series(stack.scrape())
    tag = os.urandom(4).hex()
    results = run_round(stack, tag)
    series_after = series(stack.scrape())

    # A spoofer writes its own X-Forwarded-For; the proxy appends the real one.
    real = f"203.0.113.{int(tag[:2], 16) % 200 + 1}"
    spoof_plan = [
        ("GET", "/rehearsal/limited/", {"X-Forwarded-For": f"10.{i % 250}.{i // 250}.7, {real}"})
        for i in range(2 * RATE_LIMIT)
    ]
    spoofed = stack.load(spoof_plan, 6, keep_body=True)
    # Two header lines: the client's own, then the proxy's.
    twice = raw(
        stack.port,
        req(
            b"GET",
            b"/rehearsal/limited/",
            [
                (b"X-Forwarded-For", b"198.51.100.99"),
                (b"X-Forwarded-For", real.encode()),
            ],
        ),
    )

    # Slowloris: a few connections dripping a partial request, bounded in time.
    stop = threading.Event()
    drips: list[int] = []
    slow = [
        threading.Thread(target=lambda: drips.append(slowloris(stack.port, stop)))
        for _ in range(SLOW_CLIENTS)
    ]
    for t in slow:
        t.start()
    time.sleep(0.3)
    during_slow = stack.load(
        [("GET", "/livez", {})] * 20 + [("GET", "/api/posts/?limit=2", {})] * 10, 2
    )
    for t in slow:
        t.join(SLOW_SECONDS + 10)
    stop.set()
    after_slow = stack.load([("GET", "/livez", {})] * 8, 4)

    checked = primed + results
    answered = [r["request_id"] for r in checked if r["request_id"]]
    answered += [r.request_id for r in spoofed + during_slow + after_slow if r.request_id]
    id_counts = stack.wait_logged(answered, since)
    lines = g.log_lines(since)
    errors = g.errors(err_since)
    records: list[dict[str, Any]] = []
    not_json = []
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            not_json.append(line[:200])
            continue
        if isinstance(obj, dict):
            records.append(obj)
        else:
            not_json.append(line[:200])
    log_text = "\n".join(lines)
    problems = check_workers(stack, pids, err_since)
    spoof = Tally()
    for r in spoofed:
        spoof.add(r.status, r.body)
    spoof.add(raw_status(twice) or 0, twice.partition(b"\r\n\r\n")[2])
    five_xx_raw = [(r["name"], r["status"]) for r in checked if (r["status"] or 0) >= 500]
    # The JSON-breaking user agent did reach the log (as an escaped string).
    reached_log = any(tag in str(r.get("user_agent.original", "")) for r in records)
    five_xx_logged = [
        r.get("url.path")
        for r in records
        if isinstance(r.get("http.response.status_code"), int)
        and r["http.response.status_code"] >= 500
    ]
    internal = [r.get("message") for r in records if r.get("logger") == "opskit.internal"]
    echoed = []
    for r in checked:
        for s in r["never"]:
            if s in log_text or s in errors or s.encode() in r["response"]:
                echoed.append((r["name"], s[:40]))
            if r["request_id"] and r["request_id"] in s:
                echoed.append((r["name"], "request id header"))

    # -- report first -------------------------------------------------------
    scenario["latency"] = {
        "hostile requests (one each)": {
            "count": len(results),
            "p50_ms": round(client.percentile([r["seconds"] for r in results], 50) * 1000, 1),
            "p95_ms": round(client.percentile([r["seconds"] for r in results], 95) * 1000, 1),
            "max_ms": round(max(r["seconds"] for r in results) * 1000, 1),
        },
        "spoofed X-Forwarded-For": latency_summary(spoofed),
        f"normal requests while {SLOW_CLIENTS} slowloris clients held workers": latency_summary(
            during_slow
        ),
        "normal requests after the slow clients left": latency_summary(after_slow),
    }
    scenario["counts"] = {
        r["name"]: r["status"] if r["status"] is not None else "closed, no answer" for r in results
    }
    scenario["counts"].update(
        {
            "log lines in the window / not JSON": f"{len(lines)} / {len(not_json)}",
            "hostile user agent written to the log (escaped)": reached_log,
            "5xx answered / logged": f"{len(five_xx_raw)} / {len(five_xx_logged)}",
            "opskit.internal (hook failure) lines": len(internal),
            "forged ids or secrets echoed": len(echoed),
            "answered request ids not logged / logged twice": (
                f"{sum(1 for i in answered if id_counts[i] == 0)} / "
                f"{sum(1 for i in answered if id_counts[i] > 1)}"
            ),
            f"{len(spoofed) + 1} spoofed requests of one client ({RATE_LIMIT}/h)": str(spoof),
            "metric series before / after the hostile round": f"{len(series_before)} / {len(series_after)}",
            "slowloris bytes dripped": ", ".join(str(d) for d in drips),
            "worker problems": "; ".join(problems) or "none (pids unchanged, no WORKER TIMEOUT)",
        }
    )
    scenario["notes"].append(
        "Requests gunicorn refuses itself (oversized or malformed headers) never reach "
        "Django: their status is gunicorn's. Sync workers read a request to its end, so a "
        f"slowloris client holds one worker for as long as it drips ({SLOW_SECONDS:g} s here, "
        "bounded by gunicorn's --timeout): run gunicorn behind a buffering proxy."
    )

    # -- then assert --------------------------------------------------------
    assert not not_json, f"log lines that are not JSON: {not_json[:3]}"
    assert reached_log, "the hostile user agent never reached the log: nothing was tested"
    assert not five_xx_raw, f"5xx answers: {five_xx_raw}"
    assert not five_xx_logged, f"5xx logged: {five_xx_logged[:5]}"
    assert not internal, f"an opskit hook failed: {internal[:3]}"
    assert not echoed, f"echoed: {echoed}"
    assert not [i for i in answered if id_counts[i] != 1], "request lines lost or doubled"
    gained = spoof.exact(RATE_LIMIT)
    assert gained is None, f"the spoof gained: {gained}"
    new = series_after - series_before
    assert not new, f"hostile input created metric series: {sorted(new)[:5]}"
    assert all(r.status == 200 for r in during_slow + after_slow), "slow clients starved the server"
    assert max(r.seconds for r in during_slow) <= MARGIN * 2, "slow clients delayed others"
    assert not problems, problems
