"""Scenario 1: bounded mixed load over pages, API, search, probes and metrics."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from .client import Result, latency_summary
from .conftest import RATE_LIMIT, Stack, Tally, limiter_timeouts, request_count

pytestmark = pytest.mark.rehearsal

#: Requests of the mixed load, and clients sending them at once.
MIXED_REQUESTS = 1500
CONCURRENCY = 12
LIMITED_CONCURRENCY = 6
#: Clients (distinct addresses) that each send twice the limit.
LIMITED_CLIENTS = 3


def kind(path: str) -> str:
    if path.startswith("/api/search/"):
        return "search"
    if path.startswith("/api/"):
        return "api"
    if path.startswith(("/livez", "/readyz", "/healthz", "/health")):
        return "health"
    if path.startswith("/metrics"):
        return "metrics"
    if path.startswith("/rehearsal/"):
        return "rate-limited"
    return "pages"


def catalogue(stack: Stack) -> tuple[list[int], list[str]]:
    res = stack.get("/api/posts/?limit=50")
    assert res.status == 200, res.status
    posts = json.loads(res.body)["results"]
    return [p["id"] for p in posts], [p["slug"] for p in posts]


def mixed_plan(ids: list[int], slugs: list[str], n: int, rng: random.Random) -> list[Any]:
    words = ["django", "redis", "python", "cache", "deploy", "query", "metrics"]
    shapes = [
        (20, lambda: "/"),
        (6, lambda: f"/?page={rng.randint(1, 12)}"),
        (4, lambda: f"/?q={rng.choice(words)}"),
        (12, lambda: f"/posts/{rng.choice(slugs)}/"),
        (14, lambda: f"/api/posts/?limit={rng.randint(1, 20)}"),
        (4, lambda: f"/api/posts/?search={rng.choice(words)}"),
        (10, lambda: f"/api/posts/{rng.choice(ids)}/"),
        (3, lambda: "/api/posts/n-plus-one/"),
        (8, lambda: f"/api/search/?q={rng.choice(words)}"),
        (6, lambda: "/livez"),
        (6, lambda: "/readyz"),
        (3, lambda: "/healthz"),
        (2, lambda: "/metrics"),
        (2, lambda: f"/no-such-page-{rng.randint(1, 5)}/"),
    ]
    weights = [w for w, _ in shapes]
    plan = []
    for i in range(n):
        path = rng.choices(shapes, weights)[0][1]()
        # The load client is "a proxy" appending the client it serves;
        # Prometheus scrapes from loopback itself (/metrics is loopback-only).
        client = f"198.18.{(i % 500) // 250}.{i % 250 + 1}"
        plan.append(("GET", path, {} if path == "/metrics" else {"X-Forwarded-For": client}))
    return plan


def test_load(stack: Stack, scenario: dict[str, Any]) -> None:
    rng = random.Random(10)
    ids, slugs = catalogue(stack)
    since = stack.gunicorn.log_size()
    first = stack.get("/metrics")
    before = request_count(first.body.decode())

    # The limit first, on a quiet stack: a limiter timeout opens its
    # breaker for 5 s, and a CPU-starved machine makes 50 ms timeouts.
    clients = [f"100.64.{rng.randint(0, 255)}.{k + 1}" for k in range(LIMITED_CLIENTS)]
    limited_plan = [
        ("GET", "/rehearsal/limited/", {"X-Forwarded-For": c})
        for c in clients
        for _ in range(2 * RATE_LIMIT)
    ]
    rng.shuffle(limited_plan)
    limited = stack.load(limited_plan, LIMITED_CONCURRENCY, keep_body=True)
    mixed = stack.load(mixed_plan(ids, slugs, MIXED_REQUESTS, rng), CONCURRENCY)

    last = stack.get("/metrics")
    after = request_count(last.body.decode())
    sent: list[Result] = [first, *mixed, *limited, last]
    ids_sent = [r.request_id for r in sent if r.request_id]
    counts = stack.wait_logged(ids_sent, since)
    request_lines = sum(counts.values())

    tallies = {c: Tally() for c in clients}
    pids: set[str] = set()
    for r in limited:
        tallies[r.request_headers["X-Forwarded-For"]].add(r.status, r.body)
        if r.status == 200:
            pids.add(r.headers.get("x-worker-pid", "?"))
    workers = stack.gunicorn.worker_pids()
    timeouts = limiter_timeouts(stack, since)

    # -- report first -------------------------------------------------------
    by_kind: dict[str, list[Result]] = {}
    for r in mixed:
        by_kind.setdefault(kind(r.path), []).append(r)
    scenario["latency"] = {"all (mixed)": latency_summary(mixed)}
    for k in sorted(by_kind):
        scenario["latency"][k] = latency_summary(by_kind[k])
    scenario["latency"]["rate-limited"] = latency_summary(limited)
    statuses: dict[int, int] = {}
    for r in sent:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    scenario["counts"] = {
        "requests sent (incl. 2 scrapes around the load)": len(sent),
        "statuses": ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())),
        "request lines logged in the window": request_lines,
        "request ids logged exactly once": sum(1 for i in ids_sent if counts[i] == 1),
        "request ids logged more than once": sum(1 for i in ids_sent if counts[i] > 1),
        "request ids not logged": sum(1 for i in ids_sent if counts[i] == 0),
        "Prometheus request count before / after": f"{before:g} / {after:g}",
        "Prometheus count delta (expected: requests sent - 1)": after - before,
    }
    scenario["counts"].update(
        {
            f"limited clients x requests ({RATE_LIMIT}/h each)": f"{len(clients)} x {2 * RATE_LIMIT}",
            **{f"limited client {c}": str(t) for c, t in tallies.items()},
            "limiter backend timeouts logged (breaker opened)": timeouts,
            "workers that admitted limited requests": f"{len(pids)} of {len(workers)}",
        }
    )

    scenario["notes"].append(
        "Exactness: a refused client has used its whole quota, so its allowed decisions "
        "plus the timed-out ones Redis did count equal the limit; without limiter timeouts "
        "that is allowed == limit exactly. Admissions that failed open (a timeout, or the "
        "breaker open for 5 s after one) are counted apart: under CPU starvation the "
        "limiter's 50 ms timeout trips and the limit is then exceeded by design (fail open)."
    )

    # -- then assert --------------------------------------------------------
    five_xx = [(r.path, r.status) for r in sent if r.status >= 500]
    assert not five_xx, f"5xx or transport errors: {five_xx[:10]}"
    assert all(r.request_id for r in sent), "a response without X-Request-ID"
    lost = [i for i in ids_sent if counts[i] == 0]
    doubled = [i for i in ids_sent if counts[i] > 1]
    assert not lost, f"{len(lost)} request ids never logged, e.g. {lost[:3]}"
    assert not doubled, f"{len(doubled)} request ids logged twice, e.g. {doubled[:3]}"
    assert request_lines == len(sent), f"{request_lines} request lines for {len(sent)} requests"
    # The first scrape counts itself once it has answered; the last does not.
    assert after - before == len(sent) - 1, (
        f"Prometheus counted {after - before:g} requests, {len(sent) - 1} were sent"
    )
    inexact = {c: t.exact(RATE_LIMIT) for c, t in tallies.items() if t.exact(RATE_LIMIT)}
    assert not inexact, f"rate limit not exact: {inexact}"
    assert len(pids) > 1, f"only workers {pids} admitted: the limit was not shared"
