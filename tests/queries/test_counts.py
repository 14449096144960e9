"""Counts and times per request: sync, async, concurrent, every alias."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.test import AsyncClient, Client, override_settings

from opskit.context import DBStats
from opskit.queries import QueryStats, monitor
from opskit.queries.hook import query_hook

from .conftest import Recorder, pg_alias

pytestmark = pytest.mark.urls("tests.queries.urls")


@pytest.mark.django_db(databases=["default", "other"])
def test_sync_view_counts_every_alias(recorder: Recorder) -> None:
    resp = Client().get("/count/?n=4&other=3")
    assert resp.status_code == 200
    [record] = recorder.records
    db = record.db
    assert isinstance(db, QueryStats) and isinstance(db, DBStats)
    assert db.count == 7
    assert db.by_alias["default"][0] == 4
    assert db.by_alias["other"][0] == 3
    assert db.duration == pytest.approx(sum(v[1] for v in db.by_alias.values()))
    assert 0 < db.duration <= record.duration
    assert db.n_plus_one == 0 and db.slow_queries == 0
    summary = db.summary()
    assert summary["count"] == 7
    assert summary["slowest"]["alias"] in ("default", "other")
    assert "?" in summary["slowest"]["sql"]


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "other"])
def test_query_time_is_measured(recorder: Recorder) -> None:
    alias = pg_alias()
    Client().get(f"/sleep-query/?alias={alias}&ms=40")
    [record] = recorder.records
    assert record.db is not None
    count, seconds = record.db.by_alias[alias]
    assert count == 1
    assert 0.040 <= seconds <= record.duration
    assert record.db.duration == seconds


@pytest.mark.django_db
def test_no_debug_cursor_and_no_connection_queries(recorder: Recorder) -> None:
    Client().get("/count/?n=5")
    assert recorder.records[0].db.count == 5  # type: ignore[union-attr]
    assert len(connection.queries_log) == 0
    assert not connection.force_debug_cursor


@pytest.mark.django_db(transaction=True)
async def test_async_view_counts_queries_run_in_threads(
    recorder: Recorder, thread_connections: None
) -> None:
    resp = await AsyncClient().get("/acount/1/?n=4")
    assert resp.status_code == 200
    [record] = recorder.records
    # 4 via sync_to_async + 1 through the async ORM (acount).
    assert record.db is not None and record.db.count == 5


@pytest.mark.django_db(transaction=True)
async def test_two_concurrent_async_requests_keep_their_own_counts(
    recorder: Recorder, thread_connections: None
) -> None:
    a, b = await asyncio.gather(
        AsyncClient().get("/acount/1/?n=3"), AsyncClient().get("/acount/2/?n=8")
    )
    assert a.status_code == b.status_code == 200
    assert len(recorder.records) == 2
    counts = sorted(r.db.count for r in recorder.records)  # type: ignore[union-attr]
    assert counts == [4, 9]
    for r in recorder.records:
        assert r.db is not None and r.db.duration <= r.duration


@override_settings(OPSKIT={"QUERIES": {"ENABLED": False}})
@pytest.mark.django_db
def test_disabled_monitor_leaves_record_db_empty(recorder: Recorder) -> None:
    Client().get("/count/?n=2")
    assert recorder.records[0].db is None


@pytest.mark.django_db(databases=["default", "other"])
def test_hook_installed_once_on_every_connection_and_thread() -> None:
    for alias in ("default", "other"):
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
        assert connections[alias].execute_wrappers.count(query_hook) == 1

    seen: dict[str, Any] = {}

    def worker() -> None:
        # A new thread has new connection objects: connection_created installs.
        with monitor("thread") as stats, connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
        seen["stats"] = stats
        seen["wrappers"] = list(connections["default"].execute_wrappers)
        connections.close_all()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["stats"].count == 1
    assert seen["wrappers"].count(query_hook) == 1


@pytest.mark.django_db(databases=["default", "other"])
def test_user_execute_wrapper_block_does_not_remove_the_hook() -> None:
    calls: list[str] = []
    seen: dict[str, Any] = {}

    def mine(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        calls.append(sql)
        return execute(sql, params, many, context)

    def worker() -> None:
        # A fresh thread: the connection opens inside the user's block, so
        # connection_created fires while their wrapper is the last one.
        conn = connections["default"]
        with conn.execute_wrapper(mine), monitor("wrapped") as stats, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
        seen["stats"], seen["wrappers"] = stats, list(conn.execute_wrappers)
        connections.close_all()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert calls == ["SELECT 1"] and seen["stats"].count == 1
    assert seen["wrappers"] == [query_hook]


@pytest.mark.django_db
def test_outside_any_scope_nothing_is_recorded() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    with monitor() as stats:
        pass
    assert stats.count == 0


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "other"])
def test_composed_sql_is_counted() -> None:
    from psycopg import sql

    conn = connections[pg_alias()]
    with monitor("composed") as stats, conn.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT {}").format(sql.Literal("secret")))
        assert cursor.fetchone() == ("secret",)
    assert stats.count == 1
    [entry] = stats.entries()
    # Fingerprinted from its repr, literals still normalised away.
    assert entry.fp.sample == "Composed([SQL(?), Literal(?)])"
