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
from opskit.ratelimit.backends import ASYNC_CONNECTIONS, QUEUE_WAIT
from opskit.ratelimit.core import get_backend

from ..support.slowproxy import SlowReplies
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


async def test_a_burst_behind_a_slow_live_redis_is_counted(
    private: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    """A burst queues for the loop's 2 connections; a slow but live Redis is no outage.

    Each reply comes 50 ms late, so 60 decisions take 30 turns: most of them
    are queued past the timeout, and are still made and counted while
    Redis keeps answering.  Any queued past ``QUEUE_WAIT`` timeouts (a
    loaded machine) give up as ``queue full``, uncounted and not held
    against Redis.  Before, the deadline counted the queue: those decisions
    timed out and opened the breaker.
    """
    timeout = 0.5
    proxy = SlowReplies(private.port, 0.05)
    caches = dict(settings.CACHES)
    caches["rlslow"] = {**caches["rlprivate"], "LOCATION": f"redis://127.0.0.1:{proxy.port}/0"}
    settings.CACHES = caches
    settings.OPSKIT = rl_settings(
        KEY_PREFIX=rl_prefix, CACHE="rlslow", SOCKET_TIMEOUT=timeout, BREAKER_THRESHOLD=3
    )
    try:
        limiter = Limiter("1000/h", scope="burst")
        assert (await limiter.adecide("k")).outcome == "allowed"  # connected
        t0 = time.perf_counter()

        async def timed() -> tuple[Any, float]:
            d = await limiter.adecide("k")
            return d, time.perf_counter() - t0

        burst = await asyncio.gather(*(timed() for _ in range(60)))
        made = [(d, t) for d, t in burst if d.outcome == "allowed"]
        assert {(d.outcome, d.error) for d, _ in burst} <= {
            ("allowed", None),
            ("error", "queue full"),
        }
        # Counted once each, and only those made.
        assert sorted(d.limits[0].remaining for d, _ in made) == list(range(999 - len(made), 999))
        assert max(t for _, t in made) > timeout  # made after queueing past the timeout
        # The queue's cap, then the call's timeout; each may move once when
        # this (busy) process reached it late.
        assert max(t for _, t in burst) < (QUEUE_WAIT + 3) * timeout + 0.5
        assert not get_backend().breaker.failures
        assert _clients(private) <= ASYNC_CONNECTIONS + 1  # the cache alias's own, at most
    finally:
        await get_backend().aclose()
        proxy.close()


async def test_a_new_clients_setup_is_not_held_to_one_timeout(
    private: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    """A new loop client's first use is several round trips; a decision is one.

    Each reply 80 ms late, the timeout 0.25 s: connecting (with redis-py's
    ``CLIENT SETINFO``), ``EVALSHA``, ``NOSCRIPT``, ``SCRIPT LOAD`` and
    ``EVALSHA`` again take longer than one timeout though Redis answers every
    one of them.  The setup has its own budget, so the first decision is
    made, and every later one is a single ``EVALSHA`` within the timeout.
    """
    private.cli("SCRIPT", "FLUSH")
    proxy = SlowReplies(private.port, 0.08)
    caches = dict(settings.CACHES)
    caches["rlslow"] = {**caches["rlprivate"], "LOCATION": f"redis://127.0.0.1:{proxy.port}/0"}
    settings.CACHES = caches
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE="rlslow", SOCKET_TIMEOUT=0.25)
    try:
        limiter = Limiter("100/h", scope="setup")
        decisions = [await limiter.adecide("k") for _ in range(3)]
        assert [(d.outcome, d.error) for d in decisions] == [("allowed", None)] * 3
        assert [d.limits[0].remaining for d in decisions] == [99, 98, 97]
        assert not get_backend().breaker.failures
    finally:
        await get_backend().aclose()
        proxy.close()


async def test_the_loops_connections_are_open_before_the_first_burst(
    private: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    """A decision is one round trip; opening a connection is more.

    Each reply 150 ms late, the timeout 0.25 s: an ``EVALSHA`` on an open
    connection is made in time, one that must first connect (redis-py's
    ``CLIENT SETINFO``) is not.  A burst right after the loop's first
    decision needs all :data:`ASYNC_CONNECTIONS`; the setup opened them,
    within its own budget, so the burst pays no handshake.  Before, the
    second connection opened inside a decision's deadline: on a busy host
    (every round trip waits for a crowded event loop) a Cluster client
    opens one to each node that way, and those decisions timed out.
    """
    proxy = SlowReplies(private.port, 0.15)
    caches = dict(settings.CACHES)
    caches["rlslow"] = {**caches["rlprivate"], "LOCATION": f"redis://127.0.0.1:{proxy.port}/0"}
    settings.CACHES = caches
    settings.OPSKIT = rl_settings(
        KEY_PREFIX=rl_prefix, CACHE="rlslow", SOCKET_TIMEOUT=0.25, BREAKER_THRESHOLD=100
    )
    try:
        limiter = Limiter("100/h", scope="warm")
        assert (await limiter.adecide("k")).outcome == "allowed"
        assert _clients(private) >= ASYNC_CONNECTIONS  # open before any burst
        burst = await asyncio.gather(*(limiter.adecide("k") for _ in range(ASYNC_CONNECTIONS)))
        assert [(d.outcome, d.error) for d in burst] == [("allowed", None)] * ASYNC_CONNECTIONS
        assert sorted(d.limits[0].remaining for d in burst) == list(
            range(99 - ASYNC_CONNECTIONS, 99)
        )
        assert not get_backend().breaker.failures
    finally:
        await get_backend().aclose()
        proxy.close()
