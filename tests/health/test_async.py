"""ASGI: the probe waits on the event loop without blocking it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from django.test import AsyncClient

from opskit.context import RequestRecord
from opskit.extensions import Extension
from opskit.health.runner import get_runner

from .conftest import slot_check


async def test_asgi_probe_waits_without_blocking_the_loop(health: Any) -> None:
    health(
        CHECKS=[{"check": "tests.health.checks_for_tests.Switch", "name": "stuck"}],
        DEADLINE=0.5,
        TTL=5,
    )
    get_runner()
    check = slot_check("stuck")
    check.release.clear()
    try:
        t0 = time.monotonic()
        probe = asyncio.create_task(AsyncClient().get("/readyz", HTTP_HOST="10.42.0.7:8000"))
        await asyncio.sleep(0.05)
        other = await AsyncClient().get("/async/1/")
        assert other.status_code == 200
        assert not probe.done(), "the app answered while the probe was still waiting"
        resp = await probe
        elapsed = time.monotonic() - t0
        assert resp.status_code == 503
        assert resp.json() == {"status": "fail"}
        assert 0.45 <= elapsed < 1.5
        # Cached while hung: no waiting.
        t1 = time.monotonic()
        assert (await AsyncClient().get("/readyz")).status_code == 503
        assert time.monotonic() - t1 < 0.45  # not the deadline again
    finally:
        check.release.set()


async def test_asgi_probe_gets_result_as_soon_as_it_is_ready(health: Any) -> None:
    health(
        CHECKS=[{"check": "tests.health.checks_for_tests.Switch", "name": "ok", "delay": 0.1}],
        DEADLINE=5,
    )
    t0 = time.monotonic()
    resp = await AsyncClient().get("/readyz")
    assert resp.status_code == 200
    assert time.monotonic() - t0 < 4  # woken by the worker, not by the deadline
    assert (await AsyncClient().get("/livez")).status_code == 200
    assert (await AsyncClient().post("/livez")).status_code == 405


class SyncOnly(Extension):
    def __init__(self) -> None:
        self.calls = 0

    def intercept(self, record: RequestRecord, request: Any) -> Any:
        self.calls += 1
        return None


class Native(Extension):
    def __init__(self) -> None:
        self.sync_calls = 0
        self.async_calls = 0

    def intercept(self, record: RequestRecord, request: Any) -> Any:
        self.sync_calls += 1
        return None

    async def aintercept(self, record: RequestRecord, request: Any) -> Any:
        await asyncio.sleep(0)
        self.async_calls += 1
        return None


async def test_core_aintercept_under_asgi(use_extensions: Any) -> None:
    sync_only, native = SyncOnly(), Native()
    pipeline = use_extensions(sync_only, native)
    assert pipeline.aintercept == [native]
    resp = await AsyncClient().get("/async/1/")
    assert resp.status_code == 200
    assert (sync_only.calls, native.sync_calls, native.async_calls) == (1, 0, 1)


def test_core_intercept_under_wsgi_unchanged(use_extensions: Any) -> None:
    from django.test import Client

    sync_only, native = SyncOnly(), Native()
    use_extensions(sync_only, native)
    assert Client().get("/sync/1/").status_code == 200
    assert (sync_only.calls, native.sync_calls, native.async_calls) == (1, 1, 0)


@pytest.mark.redis
async def test_asgi_real_database_and_redis_checks(health: Any, db_access: None) -> None:
    from .conftest import pg_alias

    health(CHECKS=[f"database:{pg_alias()}", "redis:redis"], DETAILS="always")
    resp = await AsyncClient().get("/readyz?verbose")
    assert resp.status_code == 200, resp.content
    checks = resp.json()["checks"]
    assert checks[f"db.{pg_alias()}:responseTime"][0]["status"] == "pass"
    assert checks["redis.redis:responseTime"][0]["status"] == "pass"
