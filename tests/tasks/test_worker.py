"""A real prefork worker: correlation, one line per run, metrics, the workers check."""

from __future__ import annotations

import os
import re
import time
import uuid
from typing import Any

import pytest
from celery import Celery
from django.test import Client

from tests.support.redis_topology import RedisServer
from tests.support.timing import SLACK

from .conftest import Worker

pytestmark = [pytest.mark.urls("tests.tasks.urls"), pytest.mark.django_db]


def _rid() -> str:
    return uuid.uuid4().hex


def _chain(worker: Worker, rid: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = [t for t in worker.task_lines() if t.get("parent_request_id") == rid]
        if len(lines) >= count:
            time.sleep(0.3)  # nothing more may come
            lines = [t for t in worker.task_lines() if t.get("parent_request_id") == rid]
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no {count} task lines for {rid}:\n{worker.output()[-3000:]}")


def test_three_tasks_of_a_request_carry_its_id(worker: Worker) -> None:
    rid = _rid()
    response = Client().get("/enqueue/", HTTP_X_REQUEST_ID=rid)
    assert response.status_code == 200
    assert response["X-Request-ID"] == rid
    ids = response.json()["ids"]
    lines = _chain(worker, rid, 3)
    assert len(lines) == 3
    assert sorted(line["task.id"] for line in lines) == sorted(ids)
    for line in lines:
        assert line["task.state"] == "succeeded"
        assert line["request_id"] != rid  # each run has its own id...
        assert line["parent_request_id"] == rid  # ...and names the request
        assert line["task.queue"] == "opskit-tests"
        assert line["task.queue_wait_ms"] >= 0
        assert line["duration_ms"] >= 0
    queries = {line["task.id"]: line["db.query_count"] for line in lines}
    assert queries[ids[0]] == 2 and queries[ids[1]] == 3
    # A line the task itself logs carries both ids too.
    own = [
        line
        for line in worker.lines()
        if line.get("logger") == "tests.task" and line.get("parent_request_id") == rid
    ]
    assert len(own) == 1
    run = next(line for line in lines if line["task.name"] == "tests.log_something")
    assert own[0]["request_id"] == run["request_id"]


def test_retries_keep_the_chain(worker: Worker, worker_sink: Any) -> None:
    rid = _rid()
    task_id = Client().get("/flaky/", HTTP_X_REQUEST_ID=rid).json()["id"]
    lines = _chain(worker, rid, 3)
    assert [line["task.state"] for line in lines] == ["retried", "retried", "failed"]
    assert [line["task.retries"] for line in lines] == [0, 1, 2]
    assert {line["task.id"] for line in lines} == {task_id}
    assert len({line["request_id"] for line in lines}) == 3  # one id per try
    assert lines[-1]["error.type"] == "RuntimeError"
    assert lines[-1]["level"] == "ERROR"
    # Sentry: one event for the final failure (sentry-sdk's Celery integration
    # captures it; opskit only tags it), none for the retries.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [
            e
            for e in worker_sink.of_type("event")
            if (e.get("tags") or {}).get("parent_request_id") == rid
        ]
        if events:
            time.sleep(1.0)  # a duplicate would arrive now
            break
        time.sleep(0.1)
    events = [
        e
        for e in worker_sink.of_type("event")
        if (e.get("tags") or {}).get("parent_request_id") == rid
    ]
    assert len(events) == 1, events
    tags = events[0]["tags"]
    assert tags["task.name"] == "tests.flaky" and tags["task.id"] == task_id
    assert tags["request_id"] == lines[-1]["request_id"]


def test_a_task_outside_a_request_has_its_own_id(worker: Worker) -> None:
    from .celeryapp import count_rows

    task_id = count_rows.delay(1).id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [t for t in worker.task_lines() if t["task.id"] == task_id]
        if found:
            break
        time.sleep(0.1)
    assert len(found) == 1
    assert "parent_request_id" not in found[0]
    assert re.fullmatch(r"[0-9a-f]{32}", found[0]["request_id"])


def _samples(text: str, name: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_scraped_counts_equal_the_runs(worker: Worker) -> None:
    rid = _rid()
    client = Client()
    for _ in range(4):
        client.get("/enqueue/", HTTP_X_REQUEST_ID=rid)
    _chain(worker, rid, 12)
    time.sleep(0.5)
    lines = worker.task_lines()
    text = worker.scrape()
    counts = _samples(text, "opskit_task_duration_seconds_count")
    assert sum(counts.values()) == len(lines)
    for state in ("succeeded", "retried", "failed"):
        expected = sum(1 for line in lines if line["task.state"] == state)
        got = sum(v for k, v in counts.items() if f'state="{state}"' in k)
        assert got == expected, (state, counts)
    failures = _samples(text, "opskit_task_failures_total")
    assert sum(failures.values()) == sum(1 for line in lines if line["task.state"] == "failed")
    active = _samples(text, "opskit_tasks_active")
    assert sum(active.values()) == 0


LONELY: Any = None  # a Celery app whose broker no worker consumes


@pytest.mark.usefixtures("worker")
def test_workers_check_answers_from_the_workers(settings: Any) -> None:
    from .celeryapp import app

    settings.OPSKIT = {
        "RATELIMIT": {"BACKEND": "cache", "CACHE": "default"},
        "HEALTH": {"CHECKS": ["celery.workers:tests.tasks.celeryapp.app"], "TTL": 0},
    }
    assert app.conf.broker_url.startswith("redis://127.0.0.1")
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content  # within the 0.9 s deadline


def test_workers_check_fails_within_the_deadline_with_no_worker(settings: Any) -> None:
    global LONELY
    with RedisServer() as server:
        LONELY = Celery("lonely", broker=server.url)
        settings.OPSKIT = {
            "RATELIMIT": {"BACKEND": "cache", "CACHE": "default"},
            "HEALTH": {"CHECKS": ["celery.workers:tests.tasks.test_worker.LONELY"], "TTL": 0},
        }
        start = time.monotonic()
        response = Client().get("/readyz")
        elapsed = time.monotonic() - start
        assert response.status_code == 503
        assert elapsed < 0.9 + SLACK, elapsed  # the deadline, not a hang
        LONELY.close()


def test_worker_liveness_file(worker: Worker) -> None:
    from django.core.management import CommandError, call_command

    alive = os.path.join(worker.dir, "alive")
    before = os.stat(alive).st_mtime
    time.sleep(1.2)
    assert os.stat(alive).st_mtime > before  # the worker's loop keeps touching it
    call_command("opskit_worker_live", file=alive, max_age=5)
    with pytest.raises(CommandError, match="not live"):
        call_command("opskit_worker_live", file=alive + ".missing", max_age=5)


def test_the_worker_serves_metrics_on_loopback_only(worker: Worker) -> None:
    assert os.path.isdir(worker.prom_dir) and os.listdir(worker.prom_dir)
    text = worker.scrape()
    assert "# TYPE opskit_task_duration_seconds histogram" in text
