"""The async path: bounded connections whatever the event loop's life, cancellation.

An async view under a WSGI server runs in a new event loop per request
(asgiref's ``async_to_sync``): sockets opened on it would outlive it, one per
request.  These tests count the connections Redis itself reports.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from opskit.ratelimit import Limiter
from opskit.ratelimit.backends import ASYNC_CONNECTIONS
from opskit.ratelimit.core import get_backend

from .conftest import PrivateRedis, rl_settings

pytestmark = [pytest.mark.redis]


def _clients(server: PrivateRedis) -> int:
    """Connections Redis has open, ``redis-cli``'s own excluded."""
    listing = server.cli("CLIENT", "LIST").splitlines()
    return sum(1 for line in listing if "cmd=client|list" not in line)


@pytest.fixture
def private(private_redis: PrivateRedis, settings: Any, rl_prefix: str) -> Iterator[PrivateRedis]:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE="rlprivate", SOCKET_TIMEOUT=2.0)
    yield private_redis


def test_async_to_sync_loops_leave_no_connections(private: PrivateRedis) -> None:
    """300 decisions in 300 short-lived loops, from 4 threads: at most 4 connections."""
    limiter = Limiter("10000/h", scope="loops")
    decide_in_new_loop = async_to_sync(limiter.adecide)

    def run() -> None:
        for _ in range(75):
            assert decide_in_new_loop("k").outcome == "allowed"

    threads = [threading.Thread(target=run) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    remaining = limiter.decide("k").limits[0].remaining
    # Every decision counted once; the rate refills one token per 0.36 s.
    refilled = math.ceil((time.monotonic() - start) * 10000 / 3600)
    assert 10000 - 301 <= remaining <= 10000 - 301 + refilled
    # One sync connection per thread at most (4 + this one), whatever the
    # number of loops.
    assert 1 <= _clients(private) <= 5
    info = private.cli("INFO", "stats")
    received = int(info.split("total_connections_received:")[1].split()[0])
    # Not one per request: the threads' + start-up PING + two redis-cli.
    assert received <= 5 + 3


async def test_long_lived_loop_keeps_a_bounded_pool(private: PrivateRedis) -> None:
    limiter = Limiter("100/h", scope="aconcurrent")
    decisions = await asyncio.gather(*(limiter.adecide("k") for _ in range(200)))
    outcomes = [d.outcome for d in decisions]
    assert outcomes.count("allowed") == 100 and outcomes.count("limited") == 100
    assert 1 <= _clients(private) <= ASYNC_CONNECTIONS
    await asyncio.gather(*(limiter.adecide("k") for _ in range(200)))
    assert _clients(private) <= ASYNC_CONNECTIONS  # reused, not replaced


async def test_callers_own_timeout_is_not_a_backend_failure(private: PrivateRedis) -> None:
    limiter = Limiter("100/h", scope="aouter")
    assert (await limiter.adecide("k")).outcome == "allowed"
    private.freeze()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limiter.adecide("k"), 0.05)
    finally:
        private.thaw()
    assert get_backend().breaker.failures == 0
    # The cancelled call's connection is not reused with a reply owed.
    first = (await limiter.adecide("k")).limits[0].remaining
    second = (await limiter.adecide("k")).limits[0].remaining
    assert first in (97, 98) and second == first - 1
