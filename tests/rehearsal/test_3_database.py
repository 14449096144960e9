"""Scenario 3: the second database alias hangs (accepts, never answers)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .client import Result, latency_summary
from .conftest import (
    HEALTH_DEADLINE,
    HEALTH_TTL,
    MARGIN,
    Stack,
    check_workers,
    failing_checks,
    poll,
)

pytestmark = pytest.mark.rehearsal

#: Seconds /readyz may take to pass again once the database answers: the
#: stuck check frees its thread after PROBE_TIMEOUT (5 s), then TTL + DEADLINE.
RECOVERY_WITHIN = 5.0 + HEALTH_TTL + HEALTH_DEADLINE + MARGIN + 5


def unrelated_plan(ids: list[int], n: int) -> list[Any]:
    out: list[Any] = []
    for i in range(n):
        out.append(("GET", "/livez", {}))
        out.append(("GET", f"/api/posts/{ids[i % len(ids)]}/", {}))
        if i % 3 == 0:
            out.append(("GET", "/api/posts/?limit=3", {}))
    return out


def test_database_faults(stack: Stack, scenario: dict[str, Any]) -> None:
    g = stack.gunicorn
    pids = g.worker_pids()
    err_since, since = g.err_size(), g.log_size()
    ids = [p["id"] for p in json.loads(stack.get("/api/posts/?limit=20").body)["results"]]
    is_fail = lambda r: r.status == 503  # noqa: E731
    is_pass = lambda r: r.status == 200  # noqa: E731

    ready, _ = poll(stack, "/readyz", is_pass, within=10)
    healthy_before = ready[-1].status == 200
    baseline = stack.load(unrelated_plan(ids, 30), 4)

    stack.proxy.hung.set()
    try:
        t_fault = time.monotonic()
        probes, to_fail = poll(stack, "/readyz", is_fail, HEALTH_TTL + HEALTH_DEADLINE + MARGIN + 2)
        during = stack.load(unrelated_plan(ids, 30), 4)
        time.sleep(max(0.0, t_fault + HEALTH_TTL + HEALTH_DEADLINE + 0.1 - time.monotonic()))
        after = [stack.get("/readyz", timeout=10) for _ in range(8)]
        failing = failing_checks(stack)
    finally:
        stack.proxy.hung.clear()
    back, to_ready = poll(stack, "/readyz", is_pass, RECOVERY_WITHIN, pause=0.2)

    sent: list[Result] = [*ready, *baseline, *probes, *during, *after, *back]
    req_ids = [r.request_id for r in sent if r.request_id]
    counts = stack.wait_logged(req_ids, since)
    problems = check_workers(stack, pids, err_since)
    live = [r for r in during if r.path == "/livez"]
    pages = [r for r in during if r.path != "/livez"]

    # -- report first -------------------------------------------------------
    scenario["latency"] = {
        "before: /livez + API pages": latency_summary(baseline),
        "hung: /readyz": latency_summary(probes + after),
        "hung: /livez": latency_summary(live),
        "hung: API pages (default alias)": latency_summary(pages),
        "released: /readyz until 200": latency_summary(back),
    }
    scenario["counts"] = {
        "hung: /readyz 503 after (s)": round(to_fail, 2) if to_fail is not None else "never",
        "hung: checks failing (verbose /readyz with the token)": ", ".join(failing) or "none",
        "hung: /readyz statuses once every cache expired": ", ".join(str(r.status) for r in after),
        "released: /readyz 200 after (s)": round(to_ready, 2) if to_ready is not None else "never",
        "requests sent": len(sent),
        "request ids not logged / logged twice": (
            f"{sum(1 for i in req_ids if counts[i] == 0)} / "
            f"{sum(1 for i in req_ids if counts[i] > 1)}"
        ),
        "worker problems": "; ".join(problems) or "none (pids unchanged, no WORKER TIMEOUT)",
    }
    scenario["notes"].append(
        f"The `replica` alias is the same database through a TCP proxy switched to hang: "
        f"connections are accepted and nothing is ever answered. Bounds: /readyz within "
        f"DEADLINE + MARGIN = {HEALTH_DEADLINE + MARGIN:g} s, its first 503 within "
        f"TTL + DEADLINE + MARGIN = {HEALTH_TTL + HEALTH_DEADLINE + MARGIN:g} s; /livez "
        f"within MARGIN = {MARGIN:g} s, pages on the default alias within DEADLINE + MARGIN "
        f"(a request waiting on the hung alias would wait 5 s or forever)."
    )

    # -- then assert --------------------------------------------------------
    assert healthy_before, "/readyz was not 200 before the fault"
    assert not [r for r in baseline + during if r.status != 200], "unrelated requests failed"
    assert to_fail is not None and to_fail <= HEALTH_TTL + HEALTH_DEADLINE + MARGIN, (
        f"/readyz reported the hung database after {to_fail} s"
    )
    slow_probe = max(r.seconds for r in probes + after)
    assert slow_probe <= HEALTH_DEADLINE + MARGIN, f"/readyz took {slow_probe:.2f} s"
    assert all(r.status == 503 for r in after), f"/readyz said {[r.status for r in after]}"
    assert failing == ["db.replica"], f"failing checks: {failing}"
    assert max(r.seconds for r in live) <= MARGIN, "/livez waited on the database"
    assert max(r.seconds for r in pages) <= HEALTH_DEADLINE + MARGIN, (
        "a page waited on the hung alias"
    )
    assert to_ready is not None, f"/readyz did not pass within {RECOVERY_WITHIN:g} s"
    assert not [i for i in req_ids if counts[i] != 1], "request lines lost or doubled"
    assert not problems, problems
