"""An async decision's deadline is its event loop's own time, not the wall clock's.

No Redis here: ``_wait`` is given a future that a thread completes at a
chosen wall time, while the loop is kept busy the way a uvicorn worker's
loop is on a loaded host (other requests' synchronous work, turn after turn).
"""

from __future__ import annotations

import asyncio
import threading
import time

from opskit.ratelimit.backends import _wait
from tests.support.timing import SLACK

TIMEOUT = 0.2
#: Each turn of the busy loop holds it this long (shorter than ``LATE``).
CHUNK = 0.04


async def _busy(stop: asyncio.Event) -> None:
    while not stop.is_set():
        time.sleep(CHUNK)  # another request's synchronous work on the loop thread
        await asyncio.sleep(0)


def _done_at(loop: asyncio.AbstractEventLoop, fut: asyncio.Future[None], when: float) -> None:
    def later() -> None:
        time.sleep(max(0.0, when - time.perf_counter()))
        loop.call_soon_threadsafe(fut.set_result, None)

    threading.Thread(target=later, daemon=True).start()


async def _waited(reply_after: float | None) -> tuple[bool, float]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    busy = asyncio.ensure_future(_busy(stop))
    fut: asyncio.Future[None] = loop.create_future()
    t0 = time.perf_counter()
    if reply_after is not None:
        _done_at(loop, fut, t0 + reply_after)
    try:
        answered = await _wait(fut, TIMEOUT)
        return answered, time.perf_counter() - t0
    finally:
        stop.set()
        await busy


async def test_a_loop_late_turn_after_turn_keeps_a_late_reply() -> None:
    """A reply 2.25 timeouts later by the wall clock is kept.

    The loop comes back to the wait late at the deadline (a chunk, then the
    grace turns, each a chunk): the process was busy, not Redis silent, so
    the deadline moves once by the timeout.
    """
    answered, took = await _waited(TIMEOUT * 2.25)
    assert answered, took


async def test_a_silent_redis_behind_a_busy_loop_still_fails_in_bounded_time() -> None:
    """The deadline moves once, never again: about two timeouts, not a hang."""
    answered, took = await _waited(None)
    assert not answered
    assert TIMEOUT * 1.2 < took < 2 * TIMEOUT + 8 * CHUNK + SLACK, took


async def test_a_silent_redis_behind_an_idle_loop_fails_in_about_one_timeout() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    t0 = time.perf_counter()
    assert not await _wait(fut, TIMEOUT)
    assert TIMEOUT <= time.perf_counter() - t0 < TIMEOUT + SLACK
