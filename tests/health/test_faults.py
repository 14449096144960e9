"""Real dependencies, real faults: a hung PostgreSQL, a frozen Redis.

Timing bounds are generous (a shared, loaded 2-core machine); the
properties are strict: the probe answers at its deadline and never at the
hang's end, later probes do not wait again, and no run is duplicated.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from ..support.timing import SLACK
from .conftest import pg_alias, slot_check, wait_until
from .faults import private_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

TOKEN = "t0ken-for-health-details"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
DEADLINE = 0.5


def hung_for(output: str) -> float:
    prefix, _, seconds = output.partition("hung for ")
    assert prefix == "" and seconds.endswith(" s"), output
    return float(seconds[:-2])


def timed(client: Client, path: str, **extra: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    resp = client.get(path, **extra)
    return resp, time.monotonic() - t0


def test_hung_database_answers_at_the_deadline(
    health: Any, db_access: None, extra_alias: Any, hung_listener: Any
) -> None:
    extra_alias("hung", hung_listener.port)
    health(
        CHECKS=[f"database:{pg_alias()}", "database:hung"],
        DEADLINE=DEADLINE,
        TTL=1.0,
        PROBE_TIMEOUT=30,  # the worker stays stuck for the whole test
        TOKEN=TOKEN,
    )
    client = Client()
    result: dict[str, Any] = {}

    def probe() -> None:
        result["resp"], result["elapsed"] = timed(client, "/readyz?verbose", **AUTH)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.05)
    # The app's own requests are not delayed by the waiting probe.
    other, other_elapsed = timed(Client(), "/sync/1/")
    assert other.status_code == 200
    assert prober.is_alive(), "the probe should still be waiting for its deadline"
    assert other_elapsed < DEADLINE
    prober.join()
    resp, elapsed = result["resp"], result["elapsed"]
    assert resp.status_code == 503
    assert DEADLINE * 0.9 <= elapsed < DEADLINE + SLACK
    checks = resp.json()["checks"]
    assert checks[f"db.{pg_alias()}:responseTime"][0]["status"] == "pass"
    assert hung_for(checks["db.hung:responseTime"][0]["output"]) >= DEADLINE * 0.9
    assert hung_listener.accepted  # the worker really is stuck in a connect
    # While still hung: answered from the cache, no waiting.
    for _ in range(10):
        again, fast = timed(client, "/readyz")
        assert again.status_code == 503 and fast < DEADLINE * 0.9
        assert again.json() == {"status": "fail"}
    live, live_elapsed = timed(client, "/livez")
    assert live.status_code == 200 and live_elapsed < DEADLINE * 0.9
    # Past the TTL the stuck run is reported at once, never run twice.
    time.sleep(1.05)
    again, fast = timed(client, "/readyz?verbose", **AUTH)
    assert again.status_code == 503 and fast < DEADLINE * 0.9
    # Reported again, older: the same stuck run, never a second one.
    assert hung_for(again.json()["checks"]["db.hung:responseTime"][0]["output"]) >= 1.5
    assert len(hung_listener.accepted) == 1


def test_non_critical_hung_database_is_200_warn(
    health: Any, db_access: None, extra_alias: Any, hung_listener: Any
) -> None:
    extra_alias("hung", hung_listener.port)
    health(CHECKS=[{"check": "database:hung", "critical": False}], DEADLINE=0.3)
    resp = Client().get("/readyz")
    assert (resp.status_code, resp.json()) == (200, {"status": "warn"})


def test_frozen_database_recovers_on_a_new_connection(
    health: Any, db_access: None, extra_alias: Any, pg_proxy: Any
) -> None:
    extra_alias("proxied", pg_proxy.port)
    health(CHECKS=["database:proxied"], DEADLINE=DEADLINE, TTL=0.3, PROBE_TIMEOUT=30)
    client = Client()
    assert client.get("/readyz").status_code == 200
    check = slot_check("db.proxied")
    assert check.connects == 1
    pg_proxy.freeze()
    time.sleep(0.35)
    resp, elapsed = timed(client, "/readyz")
    assert resp.status_code == 503 and elapsed < DEADLINE + SLACK
    resp, fast = timed(client, "/readyz")
    assert resp.status_code == 503 and fast < DEADLINE * 0.9
    assert client.get("/livez").status_code == 200
    # The database comes back; the stuck connection is dropped.
    pg_proxy.thaw()
    assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=15)
    # The kept connection got half the budget; while frozen, the server did
    # not answer an SSLRequest, so no connect was started; after the thaw
    # one fresh connection answered.
    assert check.connects == 2


def test_frozen_redis_sigstop(health: Any, settings: Any) -> None:
    with private_redis() as (port, proc):
        settings.CACHES = {
            **settings.CACHES,
            "frozen": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port}/0",
            },
        }
        health(CHECKS=["redis:frozen"], DEADLINE=DEADLINE, TTL=0.3, PROBE_TIMEOUT=2)
        client = Client()
        assert client.get("/readyz").status_code == 200
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(0.35)
            resp, elapsed = timed(client, "/readyz")
            assert resp.status_code == 503
            assert DEADLINE * 0.9 <= elapsed < DEADLINE + SLACK
            for _ in range(5):
                resp, fast = timed(client, "/readyz")
                assert resp.status_code == 503 and fast < DEADLINE * 0.9
            live, live_elapsed = timed(client, "/livez")
            assert live.status_code == 200 and live_elapsed < DEADLINE * 0.9
            other, other_elapsed = timed(client, "/sync/2/")
            assert other.status_code == 200 and other_elapsed < DEADLINE
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=15)
        assert slot_check("redis.frozen").pings >= 2


def test_steady_probing_reuses_one_connection(health: Any, db_access: None) -> None:
    alias = pg_alias()
    health(CHECKS=[f"database:{alias}"], TTL=1.0)
    client = Client()
    assert client.get("/readyz").status_code == 200
    check = slot_check(f"db.{alias}")
    pid = check.connection.connection.info.backend_pid
    queries_before = check.queries
    codes = set()
    t0 = time.monotonic()
    next_at = t0
    for _ in range(500):  # 100 probes per second for 5 s
        codes.add(client.get("/readyz").status_code)
        next_at += 0.01
        time.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - t0
    assert codes == {200}
    runs = check.queries - queries_before
    assert 1 <= runs <= elapsed / 1.0 + 1  # at most one query per TTL
    assert check.connects == 1
    assert check.connection.connection.info.backend_pid == pid
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT application_name, backend_start < now() - interval '4 seconds' "
            "FROM pg_stat_activity WHERE pid = %s",
            [pid],
        )
        rows = cursor.fetchall()
    # The same backend served every probe: opened before the 5 s, still there.
    assert rows == [("opskit-health", True)]


def test_stale_connections_are_replaced_without_a_failure(
    health: Any, db_access: None, settings: Any
) -> None:
    alias = pg_alias()
    health(CHECKS=[f"database:{alias}", "redis:redis"], TTL=0.05)
    client = Client()
    assert client.get("/readyz").status_code == 200
    db, rd = slot_check(f"db.{alias}"), slot_check("redis.redis")
    pid = db.connection.connection.info.backend_pid
    # The server drops both kept connections (a restart, an idle timeout).
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    import redis

    admin = redis.Redis.from_url(settings.REDIS_URL)
    admin.client_kill_filter(_id=rd.client.client_id())
    admin.close()
    time.sleep(0.1)
    assert client.get("/readyz").status_code == 200
    assert db.connects == 2 and db.connection.connection.info.backend_pid != pid
    assert rd.pings >= 3  # first, the failed one on the dropped connection, the fresh one
