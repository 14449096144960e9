"""Scenario 7: health through a real outage, in the shipped deployment.

The demo's own settings (``demo.settings``: bounded PostgreSQL and Redis
waits) under the Dockerfile's gunicorn command (``gthread``, 16 threads),
two workers, on the rehearsal's database reached through a switchable TCP
proxy (``tests/health/faults.py``: forward, blackhole, hang, close) and its
private Redis.  Every answer carries its worker's pid
(``tests/rehearsal/pid_wsgi.py``), so convergence is measured per worker.

* Dropped network: the proxy drops every byte for 10 s without closing
  anything, then forwards again.
* Hung database: the proxy holds every byte for ``HANG_SECONDS`` under
  steady app traffic from 8 clients; ``/livez`` is probed throughout.
* HAProxy in front, checking ``/readyz``: DOWN and UP times for a frozen
  Redis, a hung database and a dropped network.
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.health.faults import SwitchableProxy
from tests.support.processes import stop_process
from tools.dockerfile_smoke import command_args, instructions

from .client import percentile
from .conftest import HEALTH_DEADLINE, HEALTH_TTL, MARGIN, Stack
from .stack import DEMO, ROOT, Gunicorn, free_port, wait_port

pytestmark = pytest.mark.rehearsal

#: The issue's figure; the whole scenario fits the rehearsal's budget.
HANG_SECONDS = 60.0
DROP_SECONDS = 10.0
WORKERS = 2
CLIENTS = 8
#: The demo's connect_timeout (demo/settings.py): how fast a request that
#: needs the hung database must fail.
APP_CONNECT_TIMEOUT = 2.0
#: Readiness converges on every worker within this of the recovery.
CONVERGE_WITHIN = 2.0
#: HAProxy: a backend DOWN within, UP within (the issue's targets).
HAPROXY_DOWN_WITHIN = 3.0
HAPROXY_UP_WITHIN = 2.0


@dataclass
class Answer:
    path: str
    sent: float
    done: float
    status: int  # 599: timeout or reset
    pid: int | None


def ask(port: int, path: str, timeout: float) -> Answer:
    sent = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        pid = resp.getheader("X-Worker-Pid")
        return Answer(path, sent, time.monotonic(), resp.status, int(pid) if pid else None)
    except (OSError, http.client.HTTPException):
        return Answer(path, sent, time.monotonic(), 599, None)
    finally:
        conn.close()


class Prober:
    """GETs ``path`` every ``every`` seconds on a thread (bounded by stop())."""

    def __init__(self, port: int, path: str, every: float, timeout: float) -> None:
        self.answers: list[Answer] = []
        self._stop = threading.Event()

        def loop() -> None:
            while not self._stop.is_set():
                self.answers.append(ask(port, path, timeout))
                self._stop.wait(every)

        self.threads = [threading.Thread(target=loop, daemon=True)]

    @classmethod
    def many(cls, port: int, path: str, clients: int, timeout: float) -> Prober:
        one = cls(port, path, 0.0, timeout)
        one.threads = []
        for _ in range(clients):

            def loop() -> None:
                while not one._stop.is_set():
                    one.answers.append(ask(port, path, timeout))

            one.threads.append(threading.Thread(target=loop, daemon=True))
        return one

    def __enter__(self) -> Prober:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self.threads:
            t.join(30)


def dockerfile_gunicorn_args() -> list[str]:
    """The options of the Dockerfile's gunicorn command, minus the config
    file and the app (the rehearsal passes its own)."""
    (cmd,) = [a for w, a in instructions((ROOT / "Dockerfile").read_text()) if w == "CMD"]
    argv = command_args(cmd)[-1].rpartition("exec ")[2].split()
    assert argv[:2] == ["gunicorn", "demo.wsgi"], argv
    rest = argv[2:]
    assert rest[:2] == ["-c", "python:opskit.gunicorn"], rest
    return rest[2:]


@dataclass
class Outage:
    gunicorn: Gunicorn
    proxy: SwitchableProxy
    stack: Stack

    @property
    def port(self) -> int:
        return self.gunicorn.port

    def every_worker_ready(self, within: float = 30.0) -> bool:
        deadline = time.monotonic() + within
        seen: set[int] = set()
        while time.monotonic() < deadline:
            a = ask(self.port, "/readyz", 5)
            if a.status == 200 and a.pid:
                seen.add(a.pid)
            elif a.pid:
                seen.discard(a.pid)
            if len(seen) >= WORKERS:
                return True
            time.sleep(0.05)
        return False


@pytest.fixture(scope="module")
def outage(stack: Stack) -> Iterator[Outage]:
    db = urllib.parse.urlparse(stack.settings["db_url"])
    proxy = SwitchableProxy(db.hostname or "127.0.0.1", db.port or 5432)
    auth = db.netloc.rsplit("@", 1)[0] + "@" if "@" in db.netloc else ""
    db_url = urllib.parse.urlunparse(db._replace(netloc=f"{auth}127.0.0.1:{proxy.port}"))
    metrics_dir = tempfile.mkdtemp(prefix="opskit-rehearsal-outage-metrics-")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "OPSKIT_", "PROMETHEUS_", "SENTRY_", "REHEARSAL_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "PORT", "GUNICORN_CMD_ARGS")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="demo.settings",  # the shipped settings, unchanged
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), str(DEMO)) if p),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=db_url,
        REDIS_URL=stack.redis.url,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        WEB_CONCURRENCY=str(WORKERS),
    )
    gunicorn = Gunicorn(
        env,
        workers=WORKERS,
        app="tests.rehearsal.pid_wsgi:application",
        extra_args=tuple(dockerfile_gunicorn_args()),
    )
    try:
        gunicorn.start()
        out = Outage(gunicorn, proxy, stack)
        assert out.every_worker_ready(), gunicorn.errors()[-2000:]
        yield out
    finally:
        proxy.set_mode("forward")
        gunicorn.stop()
        gunicorn.cleanup()
        proxy.close()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def test_dropped_network_readiness(outage: Outage, scenario: dict[str, Any]) -> None:
    pids = set(outage.gunicorn.worker_pids())
    with Prober(outage.port, "/readyz", 0.05, HEALTH_DEADLINE + MARGIN + 2) as probes:
        time.sleep(1.0)
        t_fault = time.monotonic()
        outage.proxy.set_mode("blackhole")
        time.sleep(DROP_SECONDS)
        t_back = time.monotonic()
        outage.proxy.set_mode("forward")
        time.sleep(CONVERGE_WITHIN + MARGIN + 2)
    answers = list(probes.answers)
    during = [a for a in answers if t_fault <= a.sent and a.done <= t_back]
    first_fail = min((a.done - t_fault for a in during if a.status == 503), default=None)
    slowest = max((a.done - a.sent for a in during), default=0.0)
    after = [a for a in answers if a.sent >= t_back]
    converged: dict[int, float] = {}
    for pid in pids:
        mine = [a for a in after if a.pid == pid]
        bad = [a.done - t_back for a in mine if a.status != 200]
        converged[pid] = round(max(bad, default=0.0), 2)
    answered_after = {a.pid for a in after if a.status == 200}
    scenario["counts"] = {
        "drop seconds": DROP_SECONDS,
        "probes": len(answers),
        "first 503 after the drop (s)": round(first_fail, 2) if first_fail is not None else None,
        "slowest /readyz during the drop (s)": round(slowest, 2),
        "each worker's last non-200 after recovery (s)": {str(k): v for k, v in converged.items()},
        "bounds": f"first 503 <= DEADLINE + TTL + MARGIN = {HEALTH_DEADLINE + HEALTH_TTL + MARGIN} s; "
        f"every worker 200 within {CONVERGE_WITHIN} s (+ MARGIN {MARGIN} s)",
    }
    assert first_fail is not None and first_fail <= HEALTH_DEADLINE + HEALTH_TTL + MARGIN
    assert slowest <= HEALTH_DEADLINE + MARGIN, "a probe waited on the dead network"
    assert {
        a.status for a in during if a.done - t_fault > HEALTH_DEADLINE + HEALTH_TTL + MARGIN
    } == {503}
    assert pids <= answered_after, f"not every worker answered after recovery: {answered_after}"
    assert max(converged.values()) <= CONVERGE_WITHIN + MARGIN, converged


def test_hung_database_liveness(outage: Outage, scenario: dict[str, Any]) -> None:
    port = outage.port
    assert ask(port, "/api/posts/?limit=3", 10).status == 200
    with (
        Prober.many(port, "/api/posts/?limit=3", CLIENTS, 10.0) as app,
        Prober(port, "/livez", 0.1, 1.0) as live,
    ):
        time.sleep(2.0)
        t_hang = time.monotonic()
        outage.proxy.set_mode("hang")
        time.sleep(HANG_SECONDS)
        t_back = time.monotonic()
        outage.proxy.set_mode("forward")
        time.sleep(3.0)
    lives = [a for a in live.answers if t_hang <= a.sent <= t_back]
    live_secs = [a.done - a.sent for a in lives]
    live_timeouts = sum(1 for a in lives if a.status == 599)
    # Requests sent once the hang was on (not those in flight when it began).
    apps = [a for a in app.answers if t_hang + 0.5 <= a.sent and a.done <= t_back]
    app_secs = [a.done - a.sent for a in apps]
    stuck = [a for a in app.answers if a.sent < t_hang < a.done and a.done - a.sent > 5]
    recovered = [a for a in app.answers if a.sent >= t_back + 1.0]
    scenario["latency"] = {
        "/livez during the hang": {
            "count": len(lives),
            "p50_ms": round(percentile(live_secs, 50) * 1000, 1),
            "p95_ms": round(percentile(live_secs, 95) * 1000, 1),
            "p99_ms": round(percentile(live_secs, 99) * 1000, 1),
            "max_ms": round(max(live_secs, default=0.0) * 1000, 1),
        },
        "app requests sent during the hang": {
            "count": len(apps),
            "p50_ms": round(percentile(app_secs, 50) * 1000, 1),
            "p95_ms": round(percentile(app_secs, 95) * 1000, 1),
            "p99_ms": round(percentile(app_secs, 99) * 1000, 1),
            "max_ms": round(max(app_secs, default=0.0) * 1000, 1),
        },
    }
    scenario["counts"] = {
        "hang seconds": HANG_SECONDS,
        "clients": CLIENTS,
        "/livez timeouts (1 s)": live_timeouts,
        "/livez p99 (ms)": round(percentile(live_secs, 99) * 1000, 1),
        "app p99 during the hang (ms)": round(percentile(app_secs, 99) * 1000, 1),
        "/livez statuses": sorted({a.status for a in lives}),
        "app statuses during the hang": sorted({a.status for a in apps}),
        "app requests in flight when the hang began, held until it ended": len(stuck),
        "app 200s after recovery": sum(1 for a in recovered if a.status == 200),
        "bounds": f"/livez p99 <= 1 s, 0 timeouts; app requests fail within the demo's "
        f"connect_timeout {APP_CONNECT_TIMEOUT} s + MARGIN {MARGIN} s",
    }
    assert lives and live_timeouts == 0
    assert {a.status for a in lives} == {200}
    assert percentile(live_secs, 99) <= 1.0
    assert apps, "no app request was sent during the hang"
    assert 200 not in {a.status for a in apps}
    assert max(app_secs) <= APP_CONNECT_TIMEOUT + MARGIN, "an app request held its thread"
    assert len(stuck) <= CLIENTS
    assert recovered and all(a.status == 200 for a in recovered)


# -- HAProxy -----------------------------------------------------------------

HAPROXY_CFG = """\
global
    stats socket {sock} mode 600 level admin
    maxconn 256

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout check 2s

frontend app
    bind 127.0.0.1:{front}
    default_backend web

backend web
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 250ms fastinter 50ms fall 2 rise 1
    server web1 127.0.0.1:{port} check
"""


class HAProxy:
    def __init__(self, backend_port: int) -> None:
        binary = shutil.which("haproxy")
        assert binary, "haproxy is required (make rehearsal installs Debian's haproxy)"
        self.dir = tempfile.mkdtemp(prefix="opskit-rehearsal-haproxy-")
        self.sock = os.path.join(self.dir, "stats.sock")
        self.front = free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(sock=self.sock, front=self.front, port=backend_port))
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_port(self.front, 15)

    def status(self) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(self.sock)
            s.sendall(b"show stat\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        for row in rows:
            if row.get("pxname") == "web" and row.get("svname") == "web1":
                return str(row["status"])
        raise AssertionError(f"no web1 row in: {data[:500]!r}")

    def wait(self, status: str, within: float) -> float | None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < within:
            if self.status() == status:
                return time.monotonic() - t0
            time.sleep(0.02)
        return None

    def stop(self) -> None:
        stop_process(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_haproxy_down_and_up(outage: Outage, scenario: dict[str, Any]) -> None:
    redis = outage.stack.redis
    faults: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        "frozen redis": (redis.freeze, redis.thaw),
        "hung database": (
            lambda: outage.proxy.set_mode("hang"),
            lambda: outage.proxy.set_mode("forward"),
        ),
        "dropped network": (
            lambda: outage.proxy.set_mode("blackhole"),
            lambda: outage.proxy.set_mode("forward"),
        ),
    }
    lb = HAProxy(outage.port)
    figures: dict[str, dict[str, float | None]] = {}
    try:
        for name, (fail, recover) in faults.items():
            assert outage.every_worker_ready(), name
            assert lb.wait("UP", 10) is not None, f"{name}: not UP before the fault"
            time.sleep(1.5)  # a steady state: every cached result is a pass
            fail()
            try:
                down = lb.wait("DOWN", 15)
                time.sleep(1.0)
            finally:
                recover()
            up = lb.wait("UP", 15)
            figures[name] = {
                "DOWN after (s)": None if down is None else round(down, 2),
                "UP after (s)": None if up is None else round(up, 2),
            }
    finally:
        with contextlib.suppress(Exception):
            redis.thaw()
        outage.proxy.set_mode("forward")
        lb.stop()
    scenario["counts"] = {
        **figures,
        "haproxy": "option httpchk GET /readyz; inter 250ms fastinter 50ms fall 2 rise 1",
        "bounds": f"DOWN <= {HAPROXY_DOWN_WITHIN} s, UP <= {HAPROXY_UP_WITHIN} s",
    }
    for name, f in figures.items():
        assert f["DOWN after (s)"] is not None and f["DOWN after (s)"] <= HAPROXY_DOWN_WITHIN, (
            name,
            f,
        )
        assert f["UP after (s)"] is not None and f["UP after (s)"] <= HAPROXY_UP_WITHIN, (name, f)
