"""A request's record and its query statistics are freed by reference counting.

``record.db`` is the statistics and the statistics name their record: left
in place, that cycle made every request leave garbage for the cyclic
collector (under ASGI, where Django itself leaves none, opskit's were the
only cycles).  Counted with the collector off and ``DEBUG_SAVEALL``.
A ``monitor()`` block keeps ``stats.record`` after it ends (its request id
correlates what it reported): an explicit block, not the request path.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.test import override_settings

from opskit import signals
from opskit.context import RequestRecord
from opskit.queries.stats import QueryStats
from tests.asgi import asgi_get, wsgi_get

#: Only opskit's middleware: Django's AuthenticationMiddleware puts the
#: request itself in a cycle (``request.user``'s closure), which would take
#: ``request.opskit`` along whatever opskit does.
ONLY_OPSKIT = ["opskit.middleware.OpsKitMiddleware"]
OURS = (RequestRecord, QueryStats)


@contextmanager
def cyclic_garbage() -> Iterator[list[str]]:
    """The type names of opskit objects that only the cyclic collector would free."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    found: list[str] = []
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(type(o).__name__ for o in gc.garbage if isinstance(o, OURS))
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


@pytest.mark.django_db(transaction=True)  # WSGIHandler closes connections after each request
@override_settings(MIDDLEWARE=ONLY_OPSKIT)
def test_wsgi_requests_leave_no_cycle() -> None:
    with cyclic_garbage() as found:
        for _ in range(20):
            served = wsgi_get("/db-query/")
            assert served.status == 200
            assert served.json() == {"users": 0}
            served = wsgi_get("/sync/1/")
            assert served.status == 200
            assert served.headers["x-request-id"]
    assert found == []


@override_settings(MIDDLEWARE=ONLY_OPSKIT)
async def test_asgi_requests_leave_no_cycle() -> None:
    with cyclic_garbage() as found:
        for _ in range(20):
            served = await asgi_get("/async/1/")
            assert served.status == 200
            assert served.headers["x-request-id"]
    assert found == []


def test_a_task_run_leaves_no_cycle() -> None:
    with cyclic_garbage() as found:
        for i in range(20):
            record = RequestRecord(f"task-run-{i:04d}", path="tests.task")
            signals.send(signals.task_started, sender=None, record=record)
            assert isinstance(record.db, QueryStats)
            assert record.db.record is record  # while it runs, reports name the task
            signals.send(signals.task_finished, sender=None, record=record)
            assert record.db.count == 0
        del record
    assert found == []
