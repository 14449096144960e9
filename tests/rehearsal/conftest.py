"""The rehearsal's stack, started once per session and always stopped.

Nothing happens at import or collection: ``make pytest`` collects these
modules and deselects them (``-m "not rehearsal"``) without starting
anything.  The stack needs ``OPSKIT_TEST_DATABASE_URL`` (PostgreSQL) from
``tools/services.py``; ``redis-server`` must be on the PATH.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from opskit.conf import HealthSettings, RateLimitSettings

from . import client
from .report import Report
from .stack import DEMO, ROOT, Gunicorn, HangableProxy, PrivateRedis, temp_database

#: The limit of /rehearsal/limited/ (per hour per client address).
RATE_LIMIT = 25
WORKERS = 4
SEED_POSTS = 300
#: Seconds added to every timing bound: the rehearsal shares two cores with
#: whatever else the machine runs (load average 8 while it was written), so
#: a bound proves "did not wait on the fault" (a hung call would wait
#: seconds to forever), not "was fast".
MARGIN = 1.0
#: The timings under test: opskit's defaults, which the rehearsal keeps.
LIMITER_TIMEOUT = RateLimitSettings().SOCKET_TIMEOUT
BREAKER_COOLDOWN = RateLimitSettings().BREAKER_COOLDOWN
HEALTH_DEADLINE = HealthSettings().DEADLINE
HEALTH_TTL = HealthSettings().TTL

REPORT = Report()
#: Shows health details; the hostile scenario checks it is never echoed.
HEALTH_TOKEN = "rehearsal-" + os.urandom(12).hex()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=DEMO,
        env=env,
        check=True,
        timeout=180,
        stdout=subprocess.DEVNULL,
    )


@dataclass
class Stack:
    gunicorn: Gunicorn
    redis: PrivateRedis
    proxy: HangableProxy
    settings: dict[str, Any]

    @property
    def port(self) -> int:
        return self.gunicorn.port

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        timeout: float = 15.0,
        method: str = "GET",
    ) -> client.Result:
        """One request on a new connection; a timeout or a reset is status 599."""
        t0 = time.monotonic()
        try:
            return client.request(self.port, method, path, headers, timeout=timeout)
        except (OSError, http.client.HTTPException):
            return client.Result(method, path, 599, time.monotonic() - t0, None, sent=t0)

    def load(
        self,
        plan: client.Plan,
        concurrency: int = 8,
        max_seconds: float = 60.0,
        keep_body: bool = False,
    ) -> list[client.Result]:
        return client.run_load(self.port, plan, concurrency, max_seconds, keep_body)

    def scrape(self) -> str:
        res = self.get("/metrics")
        assert res.status == 200, f"/metrics answered {res.status}"
        return res.body.decode()

    def logged_ids(self, since: int) -> Counter[str]:
        """Request ids of the request lines (``opskit.request``) since byte ``since``."""
        return Counter(
            str(r.get("request_id"))
            for r in self.gunicorn.records(since)
            if r.get("logger") == "opskit.request"
        )

    def durations(self, since: int) -> dict[str, float]:
        """Server-side seconds (the request line's ``duration_ms``) by request id."""
        out = {}
        for r in self.gunicorn.records(since):
            if r.get("logger") == "opskit.request" and isinstance(
                r.get("duration_ms"), (int, float)
            ):
                out[str(r.get("request_id"))] = float(r["duration_ms"]) / 1000  # type: ignore[arg-type]
        return out

    def wait_logged(self, ids: list[str], since: int, timeout: float = 10.0) -> Counter[str]:
        """The id counts once every id is logged (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.logged_ids(since)
            if all(counts[i] for i in ids) or time.monotonic() > deadline:
                return counts
            time.sleep(0.2)


def poll(
    stack: Stack,
    path: str,
    until: Any,
    within: float,
    pause: float = 0.1,
    headers: dict[str, str] | None = None,
) -> tuple[list[client.Result], float | None]:
    """GET ``path`` (a new connection each time, so any worker answers)
    until ``until(result)`` is true or ``within`` seconds passed.  Returns
    every result and the seconds until the first match (None: none)."""
    t0 = time.monotonic()
    results = []
    while time.monotonic() - t0 < within:
        res = stack.get(path, headers, timeout=within + MARGIN)
        results.append(res)
        if until(res):
            return results, time.monotonic() - t0
        time.sleep(pause)
    return results, None


def failing_checks(stack: Stack) -> list[str]:
    res = stack.get("/readyz?verbose", {"Authorization": f"Bearer {HEALTH_TOKEN}"}, timeout=10)
    try:
        checks = json.loads(res.body).get("checks", {})
    except ValueError:
        return [f"unreadable ({res.status})"]
    return sorted(
        entry["componentId"]
        for entries in checks.values()
        for entry in entries
        if entry.get("status") == "fail"
    )


def check_workers(stack: Stack, pids: list[int], err_since: int) -> list[str]:
    """Problems with the workers since the scenario began (none expected)."""
    problems = []
    now = stack.gunicorn.worker_pids()
    if now != pids:
        problems.append(f"worker pids changed: {pids} -> {now}")
    errors = stack.gunicorn.errors(err_since)
    for marker in ("WORKER TIMEOUT", "Booting worker", "Traceback"):
        if marker in errors:
            problems.append(f"gunicorn stderr says {marker!r}")
    return problems


@dataclass
class Tally:
    """What the limiter did for one client, from the answers it got."""

    allowed: int = 0  #: 200, decided by Redis
    limited: int = 0  #: 429
    #: 200 failed open after a backend timeout: Redis may have counted it.
    unsure: int = 0
    #: 200 failed open while the breaker was open: Redis never saw it.
    skipped: int = 0
    other: list[str] = field(default_factory=list)

    def add(self, status: int, body: bytes) -> None:
        if status == 429:
            self.limited += 1
            return
        try:
            decision = json.loads(body) if status == 200 else {}
        except ValueError:
            decision = {}
        if decision.get("outcome") == "allowed":
            self.allowed += 1
        elif decision.get("outcome") == "error" and decision.get("error") == "breaker open":
            self.skipped += 1
        elif decision.get("outcome") == "error":
            self.unsure += 1
        else:
            self.other.append(f"{status} {decision.get('outcome')}")

    @property
    def admitted(self) -> int:
        return self.allowed + self.unsure + self.skipped

    def __str__(self) -> str:
        return (
            f"{self.allowed} allowed, {self.limited} limited, {self.unsure} failed open "
            f"on a timeout, {self.skipped} failed open on the breaker"
        )

    def exact(self, limit: int) -> str | None:
        """None when the limiter admitted exactly what ``limit`` owes.

        Once a client has been refused, its quota was used up: the allowed
        decisions plus the timed-out ones Redis did count make ``limit``.
        Without timeouts that is ``allowed == limit`` exactly.
        """
        if self.other:
            return f"unexpected answers: {self.other[:3]}"
        if self.allowed > limit:
            return f"{self} for a limit of {limit}"
        if self.limited == 0:
            return f"never limited ({self}): exactness not measured"
        if not self.allowed <= limit <= self.allowed + self.unsure:
            return f"{self} for a limit of {limit}"
        return None


def limiter_timeouts(stack: Stack, since: int) -> int:
    """Limiter backend failures logged since byte ``since`` (breaker openings)."""
    return sum(
        1 for r in stack.gunicorn.records(since) if r.get("event") == "ratelimit.backend_down"
    )


def request_count(exposition: str) -> float:
    """Sum of ``http_server_request_duration_seconds_count`` over every series."""
    total = 0.0
    for family in text_string_to_metric_families(exposition):
        if family.name == "http_server_request_duration_seconds":
            total += sum(s.value for s in family.samples if s.name.endswith("_count"))
    return total


def series(exposition: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every (sample name, labels) of the exposition: its cardinality."""
    out = set()
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            out.add((s.name, tuple(sorted(s.labels.items()))))
    return out


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    base_url = os.environ.get("OPSKIT_TEST_DATABASE_URL")
    if not base_url:
        pytest.fail(
            "the rehearsal needs OPSKIT_TEST_DATABASE_URL: run it through "
            "tools/services.py run -- (make rehearsal does)"
        )
    pg = urllib.parse.urlparse(base_url)
    with contextlib.ExitStack() as cleanup:
        db_url = cleanup.enter_context(temp_database(base_url))
        redis = PrivateRedis()
        cleanup.callback(redis.stop)
        redis.start()
        # The Celery broker: a server of its own, which no fault scenario touches.
        broker = PrivateRedis()
        cleanup.callback(broker.stop)
        broker.start()
        proxy = HangableProxy(pg.port or 5432, pg.hostname or "127.0.0.1")
        cleanup.callback(proxy.close)
        u = urllib.parse.urlparse(db_url)
        auth = u.netloc.rsplit("@", 1)[0] + "@" if "@" in u.netloc else ""
        replica_url = urllib.parse.urlunparse(u._replace(netloc=f"{auth}127.0.0.1:{proxy.port}"))
        metrics_dir = tempfile.mkdtemp(prefix="opskit-rehearsal-metrics-")
        cleanup.callback(shutil.rmtree, metrics_dir, True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "OPSKIT_", "PROMETHEUS_", "SENTRY_", "REHEARSAL_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="tests.rehearsal.settings",
            PYTHONPATH=os.pathsep.join(
                p for p in (str(ROOT), str(DEMO), os.environ.get("PYTHONPATH", "")) if p
            ),
            PYTHONUNBUFFERED="1",
            REHEARSAL_DATABASE_URL=db_url,
            REHEARSAL_REPLICA_URL=replica_url,
            REHEARSAL_REDIS_URL=redis.url,
            REHEARSAL_RATE_LIMIT=str(RATE_LIMIT),
            REHEARSAL_HEALTH_TOKEN=HEALTH_TOKEN,
            PROMETHEUS_MULTIPROC_DIR=metrics_dir,
            CELERY_BROKER_URL=broker.url,
        )
        t0 = time.monotonic()
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "seed_blog", "--posts", str(SEED_POSTS))
        seeded = time.monotonic() - t0
        gunicorn = Gunicorn(env, workers=WORKERS)
        if not os.environ.get("OPSKIT_REHEARSAL_KEEP_LOGS"):
            cleanup.callback(gunicorn.cleanup)
        cleanup.callback(gunicorn.stop)
        gunicorn.start()
        REPORT.config.update(
            {
                "timing margin (MARGIN) added to every bound": f"{MARGIN} s",
                "limiter SOCKET_TIMEOUT / BREAKER_COOLDOWN": f"{LIMITER_TIMEOUT} s / {BREAKER_COOLDOWN} s",
                "health DEADLINE / TTL": f"{HEALTH_DEADLINE} s / {HEALTH_TTL} s",
                "gunicorn workers": f"{WORKERS} (sync), --timeout {gunicorn.timeout}",
                "seeded posts": SEED_POSTS,
                "migrate + seed seconds": round(seeded, 1),
                "rate limit of /rehearsal/limited/": f"{RATE_LIMIT}/h per client address (key ip)",
            }
        )
        yield Stack(
            gunicorn, redis, proxy, {"rate_limit": RATE_LIMIT, "db_url": db_url, "env": env}
        )


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> dict[str, Any]:
    """This test's section of the report (figures first, assertions after)."""
    return REPORT.scenario(request.node.name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if item.get_closest_marker("rehearsal") is None:
        return rep
    if rep.when == "call" or rep.failed:
        # Also a stack that never started: the report says so.
        s = REPORT.scenario(item.name)
        s["outcome"] = rep.outcome if rep.when == "call" else f"error in {rep.when}"
        if rep.failed:
            crash = getattr(rep.longrepr, "reprcrash", None)
            s["failure"] = (getattr(crash, "message", "") or "failed")[:600]
    return rep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REPORT.scenarios:
        REPORT.write()
