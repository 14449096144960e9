"""monitor() outside requests: sync and async, decorator and context manager."""

from __future__ import annotations

from typing import Any

import pytest

from opskit.queries import fingerprint, monitor


@pytest.mark.django_db(transaction=True)
async def test_monitor_decorates_async_and_sync(events: Any, thread_connections: None) -> None:
    from asgiref.sync import sync_to_async

    from .views import run_queries

    @monitor("job")
    async def job() -> None:
        await sync_to_async(run_queries)(3)

    @monitor
    def sync_job() -> int:
        run_queries(6)
        return 6

    await job()
    assert events["n_plus_one"] == []
    assert await sync_to_async(sync_job)() == 6
    [event] = events["n_plus_one"]
    assert event["count"] == 6
    assert event["record"].view == "job" or event["record"].view.endswith("sync_job")
    assert (
        event["fingerprint"]
        == fingerprint(
            'SELECT 1 AS "a" FROM "testapp_author" WHERE "testapp_author"."name" = %s LIMIT 1'
        ).key
    )


@pytest.mark.django_db(transaction=True)
async def test_helpers_in_async_code(thread_connections: None) -> None:
    from asgiref.sync import sync_to_async

    from opskit.queries import assert_max_queries

    from .views import run_queries

    async with assert_max_queries(3) as stats:
        await sync_to_async(run_queries)(3)
    assert stats.count == 3
    with pytest.raises(AssertionError, match="at most 3 queries, 4 were run"):
        async with assert_max_queries(3):
            await sync_to_async(run_queries)(4)


async def test_one_monitor_object_used_by_concurrent_tasks() -> None:
    """A module-level ``monitor("name")`` entered by overlapping tasks keeps them apart."""
    import asyncio

    from opskit import context

    shared = monitor("shared-job")
    a_inside, a_done = asyncio.Event(), asyncio.Event()
    seen: dict[str, Any] = {}

    async def task_a() -> None:
        async with shared as stats:
            seen["a"] = (stats, context.current())
            a_inside.set()
            await asyncio.sleep(0)
        a_done.set()

    async def task_b() -> None:
        await a_inside.wait()
        async with shared as stats:
            seen["b"] = (stats, context.current())
            await a_done.wait()  # A leaves while B is still inside
            assert context.current() is seen["b"][1]
            seen["b_end_while_inside"] = seen["b"][1].end
        seen["b_after"] = context.current()

    await asyncio.gather(task_a(), task_b())
    (stats_a, record_a), (stats_b, record_b) = seen["a"], seen["b"]
    assert stats_a is not stats_b and record_a is not record_b
    assert record_a.request_id != record_b.request_id
    # A's exit must neither finish B's record nor close B's statistics.
    assert seen["b_end_while_inside"] is None
    assert record_a.end is not None and record_b.end is not None
    assert seen["b_after"] is None
    assert context.current() is None


def test_a_scope_may_exit_in_another_context() -> None:
    """Entered in one context, exited in another (a finalised async generator)."""
    import contextvars

    from opskit import context

    scope = monitor("elsewhere")
    entered_in = contextvars.copy_context()
    stats = entered_in.run(scope.__enter__)
    record = entered_in.run(context.current)
    assert record is not None and record.db is stats
    contextvars.copy_context().run(scope.__exit__, None, None, None)
    assert record.end is not None
    assert context.current() is None
