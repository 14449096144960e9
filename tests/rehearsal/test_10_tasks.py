"""Scenario 10: background tasks under gunicorn, the Celery worker killed and restarted.

500 requests each enqueue two of the demo's tasks (1,000 tasks) to a real
prefork worker (2 children) on Redis.  Half-way the worker's whole process
group is killed with SIGKILL (as a container runtime does) and started
again.  Every task that ran has exactly one final line naming its request,
no line is partial, and the worker's metrics never go backwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack
from .stack import DEMO, free_port

pytestmark = pytest.mark.rehearsal

REQUESTS = 500


class CeleryWorker:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="opskit-rehearsal-celery-"))
        (self.dir / "prom").mkdir()
        self.env = dict(
            env,
            PROMETHEUS_MULTIPROC_DIR=str(self.dir / "prom"),
            WORKER_METRICS_PORT=str(self.port),
            CELERY_ALIVE_FILE=str(self.dir / "alive"),
        )
        self.log = self.dir / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "demo",
                    "worker",
                    "--pool=prefork",
                    "--concurrency=2",
                    "--loglevel=WARNING",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=DEMO,
                env=self.env,
                stdout=out,
                stderr=out,
                start_new_session=True,  # its own process group, killed whole
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                self.scrape()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(self.log.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def records(self) -> tuple[list[dict[str, Any]], list[str]]:
        good, bad = [], []
        for line in self.log.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue  # Celery's own banner and warnings (text)
            try:
                good.append(json.loads(line))
            except ValueError:
                bad.append(line)
        return good, bad


def runs_counted(exposition: str) -> float:
    return sum(
        float(line.rpartition(" ")[2])
        for line in exposition.splitlines()
        if line.startswith("opskit_task_duration_seconds_count")
    )


def test_tasks_survive_a_killed_worker(stack: Stack, scenario: dict[str, Any]) -> None:
    worker = CeleryWorker(stack.settings["env"])
    try:
        worker.start()
        scrapes = [runs_counted(worker.scrape())]
        plan = [
            ("GET", "/rehearsal/enqueue/", {"X-Request-ID": f"tasks-{i:04d}-{os.urandom(4).hex()}"})
            for i in range(REQUESTS)
        ]
        first = stack.load(plan[: REQUESTS // 2], concurrency=8)
        time.sleep(0.5)  # tasks in flight when the worker dies
        scrapes.append(runs_counted(worker.scrape()))
        worker.kill()
        worker.start()
        scrapes.append(runs_counted(worker.scrape()))
        second = stack.load(plan[REQUESTS // 2 :], concurrency=8)
        statuses = Counter(r.status for r in first + second)
        # Wait until the queue is drained (no new line for 3 s).
        seen, quiet_since = -1, time.monotonic()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            lines = [r for r in worker.records()[0] if r.get("logger") == "opskit.task"]
            if len(lines) != seen:
                seen, quiet_since = len(lines), time.monotonic()
            elif time.monotonic() - quiet_since > 3:
                break
            scrapes.append(runs_counted(worker.scrape()))
            time.sleep(0.5)
        scrapes.append(runs_counted(worker.scrape()))
    finally:
        worker.stop()

    records, bad = worker.records()
    lines = [r for r in records if r.get("logger") == "opskit.task"]
    per_task = Counter(str(r["task.id"]) for r in lines)
    sent = {headers["X-Request-ID"] for _, _, headers in plan}
    scenario["counts"].update(
        {
            "requests": REQUESTS,
            "statuses": dict(statuses),
            "tasks enqueued": 2 * statuses[200],
            "task lines": len(lines),
            "tasks without a line (lost with the killed worker)": 2 * statuses[200] - len(per_task),
            "runs counted by the worker's /metrics (samples)": f"{scrapes[0]:.0f} .. {scrapes[-1]:.0f}, {len(scrapes)} samples, never lower",
        }
    )
    assert statuses == {200: REQUESTS}, statuses
    assert not bad, bad[:3]  # no partial or interleaved line
    assert max(per_task.values()) == 1, per_task.most_common(3)  # one final line per run
    assert all(r["task.state"] == "succeeded" for r in lines)
    assert {r["parent_request_id"] for r in lines} <= sent
    assert len(lines) >= 2 * REQUESTS * 0.8  # most tasks ran (only those in flight were lost)
    assert scrapes == sorted(scrapes), scrapes  # never backwards
    assert scrapes[-1] == len(lines)
