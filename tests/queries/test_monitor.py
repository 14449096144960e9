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
