"""A real Celery worker (prefork, 2 children) on a private Redis broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sentry.conftest import Sink
from tests.support.redis_topology import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """``celery worker`` in a subprocess, with its log file and metrics port."""

    def __init__(self, broker: str, sentry_dsn: str) -> None:
        self.broker = broker
        self.sentry_dsn = sentry_dsn
        self.dir = tempfile.mkdtemp(prefix="opskit-celery-")
        self.metrics_port = free_port()
        self.prom_dir = os.path.join(self.dir, "prom")
        os.makedirs(self.prom_dir)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return Path(self.dir) / "worker.log"

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.tasks.worker_settings",
            OPSKIT_CELERY_BROKER=self.broker,
            OPSKIT_WORKER_DIR=self.dir,
            OPSKIT_WORKER_METRICS_PORT=str(self.metrics_port),
            PROMETHEUS_MULTIPROC_DIR=self.prom_dir,
            OPSKIT_WORKER_SENTRY_DSN=self.sentry_dsn,
            PYTHONPATH=str(ROOT),
        )
        script = (
            "import django; django.setup(); "
            "from tests.tasks.celeryapp import app; "
            "app.worker_main(['worker', '--pool=prefork', '--concurrency=2', "
            "'--loglevel=WARNING', '--without-gossip', '--without-mingle', "
            "'--without-heartbeat', '-n', 'opskit-test@%h'])"
        )
        with open(os.path.join(self.dir, "stdout.txt"), "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", script], cwd=ROOT, env=env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                with urllib.request.urlopen(self.metrics_url, timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the Celery worker did not start:\n{self.output()}")

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def output(self) -> str:
        return Path(self.dir, "stdout.txt").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def lines(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def task_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("logger") == "opskit.task"]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.task_lines()
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(
            f"{len(self.task_lines())} task lines, expected {count}:\n{self.output()[-3000:]}"
        )

    def scrape(self) -> str:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as response:
            return str(response.read().decode())


@pytest.fixture(scope="session")
def broker() -> Iterator[str]:
    with RedisServer() as server:
        os.environ["OPSKIT_CELERY_BROKER"] = server.url
        from tests.tasks.celeryapp import app

        app.conf.broker_url = server.url
        yield server.url
        os.environ.pop("OPSKIT_CELERY_BROKER", None)


@pytest.fixture(scope="session")
def worker_sink() -> Iterator[Sink]:
    """Where the worker's real sentry-sdk sends its envelopes."""
    s = Sink()
    yield s
    s.close()


@pytest.fixture(scope="session")
def worker(broker: str, worker_sink: Sink) -> Iterator[Worker]:
    w = Worker(broker, worker_sink.dsn)
    w.start()
    try:
        yield w
    finally:
        w.stop()
