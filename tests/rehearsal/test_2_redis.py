"""Scenario 2: the private Redis frozen (SIGSTOP), killed, restarted on its port."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .client import Result, latency_summary
from .conftest import (
    BREAKER_COOLDOWN,
    HEALTH_DEADLINE,
    HEALTH_TTL,
    LIMITER_TIMEOUT,
    MARGIN,
    Stack,
    check_workers,
    failing_checks,
    poll,
)

pytestmark = pytest.mark.rehearsal

LIMITED_REQUESTS = 160
PAGE_REQUESTS = 24


def outcome(r: Result) -> str | None:
    try:
        return json.loads(r.body).get("outcome")
    except ValueError:
        return None


def plan(n_limited: int, n_pages: int, tag: str) -> list[Any]:
    out: list[Any] = []
    for i in range(n_limited):
        out.append(("GET", "/rehearsal/open/", {"X-Forwarded-For": f"192.0.2.{i % 200 + 1}"}))
        if i % max(1, n_limited // max(1, n_pages)) == 0:
            out.append(("GET", f"/api/posts/?limit=3&t={tag}", {}))
    return out


def test_redis_faults(stack: Stack, scenario: dict[str, Any]) -> None:
    g = stack.gunicorn
    pids = g.worker_pids()
    err_since, since = g.err_size(), g.log_size()
    sent: list[Result] = []
    figures: dict[str, Any] = {}
    is_fail = lambda r: r.status == 503  # noqa: E731
    is_pass = lambda r: r.status == 200  # noqa: E731

    ready, _ = poll(stack, "/readyz", is_pass, within=10)
    sent += ready
    healthy_before = ready[-1].status == 200

    def fault_phase(name: str) -> None:
        t_fault = time.monotonic()
        probes, to_fail = poll(stack, "/readyz", is_fail, HEALTH_TTL + HEALTH_DEADLINE + MARGIN + 2)
        load = stack.load(plan(LIMITED_REQUESTS, PAGE_REQUESTS, name), 8, 60, keep_body=True)
        # Once every worker's cached result has expired all of them say fail.
        time.sleep(max(0.0, t_fault + HEALTH_TTL + HEALTH_DEADLINE + 0.1 - time.monotonic()))
        after = [stack.get("/readyz", timeout=10) for _ in range(8)]
        sent.extend(probes + load + after)
        figures[name] = {
            "failing": failing_checks(stack),
            "probes": probes + after,
            "to_fail": to_fail,
            "load": load,
            "after": after,
        }

    stack.redis.freeze()
    try:
        try:
            fault_phase("frozen")
        finally:
            stack.redis.kill()  # never leave it stopped
        fault_phase("killed")
    finally:
        stack.redis.start()  # the same port: what a restarted pod or failover looks like
    back, to_ready = poll(stack, "/readyz", is_pass, HEALTH_TTL + HEALTH_DEADLINE + 10)
    sent += back
    # Each worker's breaker closes after its cooldown: the limiter decides again.
    decided: set[str] = set()

    def limiter_back(r: Result) -> bool:
        if outcome(r) == "allowed":
            decided.add(r.headers.get("x-worker-pid", "?"))
        return len(decided) == len(pids)

    recovered, to_limiter = poll(
        stack, "/rehearsal/open/", limiter_back, BREAKER_COOLDOWN + MARGIN + 10, pause=0.05
    )
    sent += recovered
    ids = [r.request_id for r in sent if r.request_id]
    counts = stack.wait_logged(ids, since)
    problems = check_workers(stack, pids, err_since)
    server = stack.durations(since)

    # -- report first -------------------------------------------------------
    lat = scenario["latency"]
    for name in ("frozen", "killed"):
        f = figures[name]
        limited = [r for r in f["load"] if r.path.startswith("/rehearsal/")]
        pages = [r for r in f["load"] if not r.path.startswith("/rehearsal/")]
        lat[f"{name}: rate-limited endpoint (fail open)"] = latency_summary(limited)
        lat[f"{name}: API page"] = latency_summary(pages)
        lat[f"{name}: /readyz"] = latency_summary(f["probes"])
        scenario["counts"][f"{name}: rate-limited endpoint, slowest server-side duration (ms)"] = (
            round(max((server.get(r.request_id or "", 0.0) for r in limited), default=0) * 1000, 1)
        )
        scenario["counts"][f"{name}: /readyz 503 after (s)"] = (
            round(f["to_fail"], 2) if f["to_fail"] is not None else "never"
        )
        scenario["counts"][f"{name}: checks failing (verbose /readyz)"] = (
            ", ".join(f["failing"]) or "none"
        )
        outcomes: dict[str, int] = {}
        for r in limited:
            key = f"{r.status} {outcome(r)}"
            outcomes[key] = outcomes.get(key, 0) + 1
        scenario["counts"][f"{name}: limited endpoint status/outcome"] = ", ".join(
            f"{k}: {n}" for k, n in sorted(outcomes.items())
        )
    lat["restarted: /readyz until 200"] = latency_summary(back)
    scenario["counts"].update(
        {
            "restarted: /readyz 200 after (s)": round(to_ready, 2)
            if to_ready is not None
            else "never",
            "restarted: every worker's limiter deciding again after (s)": (
                round(to_limiter, 2) if to_limiter is not None else "never"
            ),
            "requests sent": len(sent),
            "5xx other than /readyz": sum(
                1 for r in sent if r.status >= 500 and not r.path.startswith("/readyz")
            ),
            "request ids not logged / logged twice": (
                f"{sum(1 for i in ids if counts[i] == 0)} / {sum(1 for i in ids if counts[i] > 1)}"
            ),
            "worker problems": "; ".join(problems) or "none (pids unchanged, no WORKER TIMEOUT)",
        }
    )
    scenario["notes"].append(
        f"Bounds: a rate-limited request within LIMITER_TIMEOUT + MARGIN = "
        f"{LIMITER_TIMEOUT + MARGIN:g} s; a /readyz answer within DEADLINE + MARGIN = "
        f"{HEALTH_DEADLINE + MARGIN:g} s; the first 503 within TTL + DEADLINE + MARGIN = "
        f"{HEALTH_TTL + HEALTH_DEADLINE + MARGIN:g} s of the fault."
    )

    # -- then assert --------------------------------------------------------
    assert healthy_before, "/readyz was not 200 before the fault"
    for name in ("frozen", "killed"):
        f = figures[name]
        limited = [r for r in f["load"] if r.path.startswith("/rehearsal/")]
        bad = [(r.path, r.status) for r in f["load"] if r.status != 200]
        assert not bad, f"{name}: requests not served: {bad[:5]}"
        assert any(outcome(r) == "error" for r in limited), (
            f"{name}: the limiter never reported the fault (fail open not exercised)"
        )
        slowest = max(r.seconds for r in limited)
        assert slowest <= LIMITER_TIMEOUT + MARGIN, (
            f"{name}: a rate-limited request waited {slowest:.2f} s"
        )
        slow_probe = max(r.seconds for r in f["probes"])
        assert slow_probe <= HEALTH_DEADLINE + MARGIN, f"{name}: /readyz took {slow_probe:.2f} s"
        assert f["to_fail"] is not None and f["to_fail"] <= HEALTH_TTL + HEALTH_DEADLINE + MARGIN, (
            f"{name}: /readyz reported the fault after {f['to_fail']} s"
        )
        assert f["failing"] == ["redis.default"], f"{name}: failing checks {f['failing']}"
        assert all(r.status == 503 for r in f["after"]), (
            f"{name}: /readyz answered {[r.status for r in f['after']]} with Redis down"
        )
    others = [(r.path, r.status) for r in sent if r.status >= 500 and r.path != "/readyz"]
    assert not others, f"5xx outside /readyz: {others[:5]}"
    assert to_ready is not None, "/readyz did not recover after the restart"
    assert to_limiter is not None, f"limiter deciding again on workers {decided} only"
    assert not [i for i in ids if counts[i] != 1], "request lines lost or doubled"
    assert not problems, problems
