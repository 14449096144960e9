"""A real gunicorn with 3 workers: one scrape reports every worker's requests.

Started with the shipped ``-c python:opskit.gunicorn``: the test proves the
stale directory is cleaned at start, counts from all workers add up to
exactly N, and a killed worker's in-flight gauge disappears (child_exit).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port

from .conftest import parse, pick, total

ROOT = Path(__file__).resolve().parents[2]
N = 30
ROUTE = "m/work/<int:pk>/"
pytestmark = pytest.mark.slow


def _get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _make_stale_file(mp_dir: Path) -> None:
    """A previous run's values for the same series: must not be added."""
    code = (
        "from prometheus_client import Histogram\n"
        "h = Histogram('http_server_request_duration_seconds', 'x', "
        "['http_request_method', 'http_route', 'http_response_status_code', 'error_type'])\n"
        f"c = h.labels('GET', {ROUTE!r}, '200', '')\n"
        "for _ in range(1000): c.observe(0.01)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert list(mp_dir.glob("histogram_*.db"))


def test_three_workers_one_scrape_exactly_n(tmp_path: Path) -> None:
    mp_dir = tmp_path / "mp"
    mp_dir.mkdir()
    _make_stale_file(mp_dir)
    hold_file = tmp_path / "hold.pid"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(mp_dir),
        "DJANGO_SETTINGS_MODULE": "tests.metrics.gunicorn_settings",
        "PYTHONPATH": str(ROOT),
        "OPSKIT_TEST_HOLD_FILE": str(hold_file),
    }
    log = (tmp_path / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:opskit.gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "3",
            "--timeout",
            "60",
            "--graceful-timeout",
            "2",
            "tests.metrics.wsgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(base, server, tmp_path)
        _wait_all_workers(base)

        def work(i: int) -> int:
            status, body = _get(f"{base}/m/work/{i}/")
            assert status == 200
            return int(json.loads(body)["pid"])

        with ThreadPoolExecutor(6) as pool:
            pids = set(pool.map(work, range(N)))
        assert len(pids) >= 2, "requests should have spread over several workers"

        samples = _scrape(base)
        assert total(samples, "http_server_request_duration_seconds_count", http_route=ROUTE) == N
        inf = pick(
            samples, "http_server_request_duration_seconds_bucket", http_route=ROUTE, le="+Inf"
        )
        assert sum(s.value for s in inf) == N
        assert total(samples, "http_server_active_requests") == 1  # the scrape itself
        workers = {s.labels["pid"] for s in pick(samples, "opskit_process_threads")}
        assert {str(p) for p in pids} <= workers

        # A request stays in flight in one worker; kill that worker hard.
        holder = threading.Thread(target=_hold, args=(f"{base}/m/hold/",), daemon=True)
        holder.start()
        held_pid = _wait_for_pid(hold_file)
        assert total(_scrape(base), "http_server_active_requests") == 2
        os.kill(held_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while True:
            samples = _scrape(base)
            if total(samples, "http_server_active_requests") == 1:
                break
            assert time.monotonic() < deadline, "child_exit did not mark the worker dead"
            time.sleep(0.2)
        # The dead worker's counts stay: still exactly N.
        assert total(samples, "http_server_request_duration_seconds_count", http_route=ROUTE) == N
        assert str(held_pid) not in {
            s.labels["pid"] for s in pick(samples, "opskit_process_threads")
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert "metrics directory" in (tmp_path / "gunicorn.log").read_text()


def _wait_ready(base: str, server: subprocess.Popen[Any], tmp_path: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail("gunicorn exited:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
        try:
            if _get(f"{base}/m/pid/", timeout=2)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail("gunicorn did not answer:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])


def _wait_all_workers(base: str) -> None:
    """Until every worker has booted and answered (its own route, not counted)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 15
    with ThreadPoolExecutor(6) as pool:
        while len(seen) < 3:
            assert time.monotonic() < deadline, f"only workers {seen} answered"
            bodies = pool.map(lambda i: _get(f"{base}/m/warm/{i}/")[1], range(6))
            seen |= {int(json.loads(b)["pid"]) for b in bodies}


def _hold(url: str) -> None:
    try:
        _get(url, timeout=30)
    except (OSError, http.client.HTTPException):
        pass  # expected: the worker serving it is killed


def _wait_for_pid(path: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if path.exists():
            return int(path.read_text())
        time.sleep(0.05)
    pytest.fail("the hold view never started")


def _scrape(base: str) -> list[Any]:
    status, body = _get(f"{base}/metrics")
    assert status == 200, body
    return parse(body.decode())


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str, *args: Any) -> None:
        self.lines.append(("info", msg % args))

    def warning(self, msg: str, *args: Any) -> None:
        self.lines.append(("warning", msg % args))


def test_hooks_without_and_with_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gunicorn.config import Config

    from opskit import gunicorn as hooks

    cfg = Config()
    cfg.set("workers", 3)
    server = type("Arbiter", (), {"cfg": cfg, "log": _Log()})()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    hooks.on_starting(server)
    assert server.log.lines[0][0] == "warning" and "3 workers" in server.log.lines[0][1]
    hooks.child_exit(server, type("Worker", (), {"pid": 1234})())  # no directory: no-op

    target = tmp_path / "new" / "mp"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(target))
    hooks.on_starting(server)  # creates it
    assert target.is_dir()
    (target / "counter_1.db").write_bytes(b"x")
    (target / "gauge_livesum_1234.db").write_bytes(b"x")
    (target / "keep.txt").write_text("not ours")
    hooks.child_exit(server, type("Worker", (), {"pid": 1234})())
    assert sorted(p.name for p in target.iterdir()) == ["counter_1.db", "keep.txt"]
    assert hooks.clean_multiprocess_dir(str(target)) == 1
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
