"""Fail open or closed when Redis is gone: an answer, never a 500.

Freezing, stopping and restarting each topology is in ``test_topologies.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import AsyncClient, Client

from .conftest import PrivateRedis, rl_settings

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.urls("tests.ratelimit.urls")]


def _use(settings: Any, prefix: str, **kw: Any) -> None:
    kw.setdefault("SOCKET_TIMEOUT", 0.25)
    settings.OPSKIT = rl_settings(KEY_PREFIX=prefix, CACHE="rlprivate", BREAKER_COOLDOWN=0.3, **kw)


def _events(caplog: pytest.LogCaptureFixture, name: str) -> int:
    return sum(1 for r in caplog.records if getattr(r, "event", None) == name)


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
