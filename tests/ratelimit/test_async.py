"""The async path's own failure modes: concurrency, cancellation, the loop watchdog.

``adecide`` bounds each exchange with one watchdog timer per event loop (not a
timer per decision), which cancels a decision's task past ``SOCKET_TIMEOUT``.
These tests prove that the bound holds, that a caller's own cancellation stays
a cancellation, and that a socket with an unread reply is never reused.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from opskit.ratelimit import Limiter
from opskit.ratelimit.backends import ASYNC_CONNECTIONS, RedisBackend
from opskit.ratelimit.core import get_backend

from .conftest import PrivateRedis, rl_settings

pytestmark = [pytest.mark.redis]


def _use(settings: Any, prefix: str, **kw: Any) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=prefix, CACHE="rlprivate", BREAKER_COOLDOWN=0.3, **kw)


def _pool() -> Any:
    backend = get_backend()
    assert isinstance(backend, RedisBackend)
    return backend.apool()


async def _until_taken(conn: Any) -> None:
    """Wait until a decision took ``conn``: its first pause is for the reply."""
    pool = _pool()
    for _ in range(2000):
        if conn not in pool.idle:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the decision never reached Redis")


async def test_concurrent_decisions_on_one_loop_are_exact(settings: Any, rl_prefix: str) -> None:
    # A patient timeout: sixteen new sockets at once on a loaded machine.
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, SOCKET_TIMEOUT=2.0)
    limiter = Limiter("30/h", scope="aconcurrent")
    decisions = await asyncio.gather(*(limiter.adecide("k") for _ in range(60)))
    outcomes = [d.outcome for d in decisions]
    assert outcomes.count("allowed") == 30 and outcomes.count("limited") == 30
    pool = _pool()
    # At most N sockets for the loop, all returned, nothing left watched.
    assert 1 <= len(pool.idle) <= ASYNC_CONNECTIONS
    assert not pool.inflight
    assert pool.free == ASYNC_CONNECTIONS and not pool.waiters
    remaining = sorted(d.limits[0].remaining for d in decisions if d.allowed)
    assert remaining == list(range(30))


async def test_cancelled_decision_disconnects_its_connection(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix, SOCKET_TIMEOUT=5.0)
    limiter = Limiter("100/h", scope="acancel")
    assert (await limiter.adecide("k")).limits[0].remaining == 99
    pool = _pool()
    (conn,) = pool.idle
    private_redis.freeze()
    try:
        task = asyncio.ensure_future(limiter.adecide("k"))
        await _until_taken(conn)  # in use, its EVALSHA sent, no reply yet
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        private_redis.thaw()
    # The caller's cancellation is not the backend's failure...
    assert get_backend().breaker.failures == 0
    # ...but the socket may still receive the cancelled call's reply: closed.
    assert conn not in pool.idle and not conn.is_connected
    assert not pool.inflight
    # The next decisions read their own replies (the server ran the
    # cancelled call too, once thawed): consecutive, one apart.
    first = (await limiter.adecide("k")).limits[0].remaining
    second = (await limiter.adecide("k")).limits[0].remaining
    assert first in (97, 98) and second == first - 1


async def test_watchdog_times_out_concurrent_decisions_on_a_frozen_redis(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix, BREAKER_THRESHOLD=100, SOCKET_TIMEOUT=0.05)
    limiter = Limiter("100/h", scope="awatchdog")
    assert (await limiter.adecide("k")).outcome == "allowed"
    private_redis.freeze()
    try:
        t0 = time.perf_counter()
        decisions = await asyncio.gather(*(limiter.adecide("k") for _ in range(5)))
        elapsed = time.perf_counter() - t0
        # And one in this very task, whose cancellation must be taken back.
        decisions.append(await limiter.adecide("k"))
    finally:
        private_redis.thaw()
    assert {(d.outcome, d.allowed, d.error) for d in decisions} == {("error", True, "TimeoutError")}
    assert elapsed < 1.0  # one 50 ms deadline for all five, not five in a row
    # The watchdog's cancellation was taken back: this task goes on normally.
    task = asyncio.current_task()
    assert task is not None and getattr(task, "cancelling", lambda: 0)() == 0
    await asyncio.sleep(0)
    pool = _pool()
    assert not pool.inflight and not pool.idle  # every timed-out socket closed
    assert (await limiter.adecide("k")).outcome == "allowed"


async def test_callers_own_timeout_stays_the_callers(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    _use(settings, rl_prefix, SOCKET_TIMEOUT=5.0)
    limiter = Limiter("100/h", scope="aouter")
    assert (await limiter.adecide("k")).outcome == "allowed"
    private_redis.freeze()
    try:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(limiter.adecide("k"), 0.05)
    finally:
        private_redis.thaw()
    assert get_backend().breaker.failures == 0
    assert not _pool().inflight
    assert (await limiter.adecide("k")).outcome == "allowed"


async def test_watchdog_rearms_for_later_decisions(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    """A decision started while the timer is armed for an earlier one is still bounded."""
    _use(settings, rl_prefix, SOCKET_TIMEOUT=0.2, BREAKER_THRESHOLD=100)
    limiter = Limiter("100/h", scope="arearm")
    assert (await limiter.adecide("k")).outcome == "allowed"
    private_redis.freeze()
    try:
        (conn,) = _pool().idle
        first = asyncio.ensure_future(limiter.adecide("k"))
        await _until_taken(conn)
        await asyncio.sleep(0.1)  # the timer is armed for the first deadline
        t0 = time.perf_counter()
        second = await limiter.adecide("k")
        waited = time.perf_counter() - t0
        assert (await first).error == "TimeoutError"
    finally:
        private_redis.thaw()
    assert second.error == "TimeoutError"
    assert 0.15 <= waited < 2.0  # its own deadline, neither the first's nor none


async def test_cancelled_while_queued_for_a_slot(
    private_redis: PrivateRedis, settings: Any, rl_prefix: str
) -> None:
    """More decisions than slots, all cancelled: every slot comes back, no socket stays."""
    _use(settings, rl_prefix, SOCKET_TIMEOUT=5.0)
    limiter = Limiter("100/h", scope="aqueued")
    assert (await limiter.adecide("k")).outcome == "allowed"
    pool = _pool()
    private_redis.freeze()
    try:
        tasks = [asyncio.ensure_future(limiter.adecide("k")) for _ in range(ASYNC_CONNECTIONS + 4)]
        for _ in range(2000):
            if pool.free == 0 and len(pool.waiters) == 4:
                break
            await asyncio.sleep(0.001)
        assert pool.free == 0 and len(pool.waiters) == 4  # 16 in flight, 4 queued
        # Cancel one queued and one in flight first, then the rest.
        tasks[-1].cancel()
        tasks[0].cancel()
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        private_redis.thaw()
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert pool.free == ASYNC_CONNECTIONS and not pool.waiters and not pool.inflight
    assert not pool.idle  # sockets with replies still owed were all closed
    assert get_backend().breaker.failures == 0
    assert (await limiter.adecide("k")).outcome == "allowed"
