"""Redis stopped or frozen (SIGSTOP) on a private server: no 500, short waits, recovery."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from django.test import AsyncClient, Client

from opskit.ratelimit import Limiter
from opskit.ratelimit.core import get_backend

from .conftest import PrivateRedis, rl_settings

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.urls("tests.ratelimit.urls")]


def _use(settings: Any, prefix: str, **kw: Any) -> None:
    # The production default (50 ms), which these tests are about.
    kw.setdefault("SOCKET_TIMEOUT", 0.05)
    settings.OPSKIT = rl_settings(KEY_PREFIX=prefix, CACHE="rlprivate", BREAKER_COOLDOWN=0.3, **kw)


def _events(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(1 for r in caplog.records if getattr(r, "event", None) == name)


def test_frozen_redis_fails_open_fast_then_recovers(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    _use(settings, rl_prefix)
    limiter = Limiter("100/m", scope="frozen")
    assert limiter.decide("k").outcome == "allowed"
    caplog.set_level(logging.WARNING, logger="opskit.ratelimit")
    private_redis.freeze()
    try:
        t0 = time.perf_counter()
        first = limiter.decide("k")
        first_s = time.perf_counter() - t0
        assert (first.outcome, first.allowed, first.error) == ("error", True, "TimeoutError")
        # 50 ms socket timeout, no retries (redis-py's defaults: 5 s and retries).
        assert first_s < 1.0
        t0 = time.perf_counter()
        later = [limiter.decide("k") for _ in range(200)]
        open_s = time.perf_counter() - t0
        assert {d.error for d in later} == {"breaker open"}
        assert open_s < 0.5  # 200 decisions without touching Redis
        assert get_backend().breaker.is_open
    finally:
        private_redis.thaw()
    time.sleep(0.35)
    assert limiter.decide("k").outcome == "allowed"
    assert not get_backend().breaker.is_open
    assert _events(caplog, "ratelimit.backend_down") == 1
    assert _events(caplog, "ratelimit.backend_recovered") == 1


async def test_frozen_redis_async(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix)
    limiter = Limiter("100/m", scope="afrozen")
    assert (await limiter.adecide("k")).outcome == "allowed"
    private_redis.freeze()
    try:
        t0 = time.perf_counter()
        first = await limiter.adecide("k")
        assert first.outcome == "error" and first.allowed
        assert time.perf_counter() - t0 < 1.0
        t0 = time.perf_counter()
        for _ in range(200):
            assert (await limiter.adecide("k")).error == "breaker open"
        assert time.perf_counter() - t0 < 0.5
    finally:
        private_redis.thaw()
    time.sleep(0.35)
    assert (await limiter.adecide("k")).outcome == "allowed"


def test_stopped_redis_then_restarted(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix)
    limiter = Limiter("100/m", scope="stopped")
    assert limiter.decide("k").outcome == "allowed"
    private_redis.stop()
    t0 = time.perf_counter()
    d = limiter.decide("k")
    assert d.outcome == "error" and d.allowed
    assert time.perf_counter() - t0 < 1.0
    private_redis.start()  # same port, empty: the script is loaded again (NOSCRIPT)
    time.sleep(0.35)
    d = limiter.decide("k")
    assert d.outcome == "allowed" and d.limits[0].remaining == 99


def test_fail_closed_answers_503_never_500(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix)
    private_redis.stop()
    c = Client()
    r = c.get("/closed/")
    assert r.status_code == 503
    assert r.json()["error"] == "rate_limiter_unavailable"
    assert int(r["Retry-After"]) >= 1
    # Fail open (the default) admits, without usage headers it cannot know.
    r = c.get("/open/")
    assert r.status_code == 200 and "RateLimit" not in r
    assert r.json()["outcome"] == "error"


async def test_fail_closed_async_and_setting(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix, FAIL_OPEN=False)
    private_redis.stop()
    c = AsyncClient()
    assert (await c.get("/aclosed/")).status_code == 503
    assert (await c.get("/aip/")).status_code == 503  # FAIL_OPEN=False applies to all


def test_noscript_reload_after_script_flush(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    from django_redis import get_redis_connection

    _use(settings, rl_prefix)
    limiter = Limiter("5/m", scope="noscript")
    assert limiter.decide("k").outcome == "allowed"
    get_redis_connection("rlprivate").script_flush()  # our own server only
    d = limiter.decide("k")
    assert d.outcome == "allowed" and d.limits[0].remaining == 3
