"""The demo under a real ASGI server (uvicorn, two worker processes).

The Dockerfile's gunicorn path is exercised by test_deploy.py; this is the
README's uvicorn command, on a throwaway SQLite database.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_port

DEMO = Path(__file__).resolve().parent.parent.parent / "demo_project"


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class SentrySink:
    """A Sentry ingest stand-in: keeps the JSON items of every envelope."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                for line in body.splitlines()[1:]:
                    try:
                        item = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(item, dict):
                        sink.items.append(item)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in list(self.items):
                if predicate(item):
                    return item
            time.sleep(0.1)
        raise AssertionError(f"no such Sentry event; got {self.items!r:.2000}")


@pytest.fixture(scope="module")
def sentry_sink() -> Iterator[SentrySink]:
    sink = SentrySink()
    yield sink
    sink.server.shutdown()
    sink.server.server_close()


@pytest.fixture(scope="module")
def uvicorn_demo(
    tmp_path_factory: pytest.TempPathFactory, sentry_sink: SentrySink
) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("uvicorn-demo")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "PROMETHEUS_"))
    }
    # uvicorn has no master hooks: the README says to start from an empty
    # directory, which a fresh temporary one is.
    (tmp / "metrics").mkdir()
    env.update(
        DJANGO_SETTINGS_MODULE="demo.settings",
        DATABASE_URL=f"sqlite:///{tmp / 'demo.sqlite3'}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp / "metrics"),
        SENTRY_DSN=sentry_sink.dsn,
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput", "-v", "0"], ["seed_blog", "--posts", "60"]):
        subprocess.run([*manage, *args, "--skip-checks"], cwd=DEMO, env=env, check=True)
    port = free_port()
    log = (tmp / "uvicorn.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "demo.asgi:application",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=DEMO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if fetch(base + "/")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp / "uvicorn.log").read_text()[-3000:])
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_uvicorn_serves_pages_and_api(uvicorn_demo: str) -> None:
    status, headers, body = fetch(uvicorn_demo + "/")
    assert status == 200 and b"Latest posts" in body
    assert len(headers["X-Request-ID"]) == 32
    status, _, body = fetch(uvicorn_demo + "/api/posts/?limit=5")
    data = json.loads(body)
    assert status == 200 and len(data["results"]) == 5 and data["count"] > 20
    post = data["results"][0]
    status, _, body = fetch(f"{uvicorn_demo}/api/posts/{post['id']}/")
    assert status == 200 and json.loads(body)["slug"] == post["slug"]
    # The async search view, natively async under ASGI.
    status, _, body = fetch(uvicorn_demo + "/api/search/?q=latency")
    assert status == 200 and json.loads(body)["query"] == "latency"
    status, _, body = fetch(uvicorn_demo + "/api/search/")
    assert status == 400 and "q" in json.loads(body)["fields"]
    status, _, body = fetch(uvicorn_demo + "/api/analytics/")
    assert status == 401


def detail_count(base: str) -> float:
    status, headers, body = fetch(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    counted = 0.0
    for line in body.decode().splitlines():
        if line.startswith("http_server_request_duration_seconds_count{") and (
            'http_route="api/posts/<int:pk>/"' in line
        ):
            counted += float(line.rsplit(" ", 1)[1])
    return counted


@pytest.mark.slow
def test_uvicorn_metrics_merge_the_workers(uvicorn_demo: str) -> None:
    _, _, body = fetch(uvicorn_demo + "/api/posts/?limit=3")
    ids = [p["id"] for p in json.loads(body)["results"]]
    before = detail_count(uvicorn_demo)
    n = 15
    for i in range(n):
        assert fetch(f"{uvicorn_demo}/api/posts/{ids[i % 3]}/")[0] == 200
    # Each request counted once, by whichever of the two workers served it,
    # and one scrape reports them all.
    assert detail_count(uvicorn_demo) - before == n


@pytest.mark.slow
def test_sentry_gets_the_n_plus_one_with_its_request_id(
    uvicorn_demo: str, sentry_sink: SentrySink
) -> None:
    status, headers, _ = fetch(uvicorn_demo + "/api/posts/n-plus-one/?limit=8")
    assert status == 200
    event = sentry_sink.wait_for(
        lambda e: (
            "N+1 queries" in str(e.get("message", e.get("logentry", "")))
            and e.get("tags", {}).get("request_id") == headers["X-Request-ID"]
        )
    )
    assert event["level"] == "warning"
    assert event["tags"]["http.route"] == "api/posts/n-plus-one/"
    assert event["contexts"]["opskit"]["count"] == 8
    assert event["fingerprint"][0] == "opskit.n_plus_one"
