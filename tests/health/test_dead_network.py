"""A dead network under the probe connections, through a real TCP proxy.

The proxy drops bytes without closing anything (a pulled cable, a NAT that
forgot the connection): the socket stays open and the kernel never
reports an error, the case where a probe without a read bound would wait
for ~15 minutes.  Bounds are generous for a loaded machine; the properties
are strict (which answer, how many connections).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from opskit.health.base import CheckFailed

from ..support.timing import SLACK
from .conftest import pg_alias, slot_check, wait_until
from .faults import private_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

DEADLINE = 0.5

#: Flipped by the tests below (a check whose outcome the test decides).
STATE = {"down": False}


def flaky() -> None:
    if STATE["down"]:
        raise CheckFailed("down")


def timed(client: Client, path: str) -> tuple[int, float]:
    t0 = time.monotonic()
    status = client.get(path).status_code
    return status, time.monotonic() - t0


def pg_port() -> int:
    return int(connections.settings[pg_alias()]["PORT"] or 5432)


def test_probe_connection_carries_keepalives_and_a_user_timeout(
    health: Any, db_access: None
) -> None:
    alias = pg_alias()
    health(CHECKS=[f"database:{alias}"], PROBE_TIMEOUT=2)
    assert Client().get("/readyz").status_code == 200
    params = slot_check(f"db.{alias}").connection.connection.info.get_parameters()
    assert params["keepalives"] == "1"
    assert int(params["keepalives_idle"]) <= 5
    assert params["tcp_user_timeout"] == "2000"
    assert params["connect_timeout"] == "2"


def test_silently_dropped_db_connection_is_replaced_within_the_deadline(
    health: Any, db_access: None, extra_alias: Any, switch_proxy: Any
) -> None:
    proxy = switch_proxy(pg_port())
    extra_alias("net", proxy.port)
    health(CHECKS=["database:net"], DEADLINE=DEADLINE, TTL=0.2)
    client = Client()
    assert client.get("/readyz").status_code == 200
    check = slot_check("db.net")
    assert check.connects == 1
    proxy.drop_existing()  # the kept connection is gone, new ones work
    time.sleep(0.25)
    status, elapsed = timed(client, "/readyz")
    # Half the budget on the dead connection, then a fresh one: still 200.
    assert status == 200 and elapsed < DEADLINE + SLACK
    assert check.connects == 2
    for _ in range(3):
        time.sleep(0.25)
        assert client.get("/readyz").status_code == 200
    assert check.connects == 2


def test_blackholed_network_fails_then_every_probe_recovers(
    health: Any, db_access: None, extra_alias: Any, switch_proxy: Any
) -> None:
    proxy = switch_proxy(pg_port())
    extra_alias("net", proxy.port)
    ttl = 0.4
    health(CHECKS=["database:net"], DEADLINE=DEADLINE, TTL=ttl, PROBE_TIMEOUT=2)
    client = Client()
    assert client.get("/readyz").status_code == 200
    proxy.set_mode("blackhole")
    time.sleep(ttl)
    status, elapsed = timed(client, "/readyz")
    assert status == 503 and elapsed < DEADLINE + SLACK
    # Steady probing through the outage: answers at the deadline at worst.
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        status, elapsed = timed(client, "/readyz")
        assert status == 503 and elapsed < DEADLINE + SLACK
        time.sleep(0.1)
    proxy.set_mode("forward")
    t0 = time.monotonic()
    assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=10)
    recovered = time.monotonic() - t0
    # After a failure no connect starts until the server answers an
    # SSLRequest (half the budget), so nothing waits for libpq's 2 s
    # connect_timeout: within a probe run plus TTL/4 (the issue: 1 s + TTL).
    assert recovered < 1 + ttl, recovered
    # No libpq connect was started through the dead network: the first
    # connection, then one after the recovery.
    assert slot_check("db.net").connects == 2


def test_silently_dropped_redis_connection_is_replaced(
    health: Any, settings: Any, switch_proxy: Any
) -> None:
    with private_redis() as (port, _proc):
        proxy = switch_proxy(port)
        settings.CACHES = {
            **settings.CACHES,
            "net": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{proxy.port}/0",
            },
        }
        health(CHECKS=["redis:net"], DEADLINE=DEADLINE, TTL=0.2)
        client = Client()
        assert client.get("/readyz").status_code == 200
        proxy.drop_existing()
        time.sleep(0.25)
        status, elapsed = timed(client, "/readyz")
        assert status == 200 and elapsed < DEADLINE + SLACK
        assert proxy.accepted == 2  # one fresh connection replaced the dead one
        proxy.set_mode("blackhole")
        time.sleep(0.25)
        status, elapsed = timed(client, "/readyz")
        assert status == 503 and elapsed < DEADLINE + SLACK
        proxy.set_mode("forward")
        assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=5)


def test_failures_are_reused_for_a_quarter_of_the_ttl(health: Any) -> None:
    """Convergence across workers: a failure is re-checked after TTL/4,
    while a pass is still reused for the whole TTL."""
    ttl = 1.2
    health(CHECKS=["tests.health.test_dead_network.flaky"], TTL=ttl)
    client = Client()
    STATE["down"] = False
    try:
        assert client.get("/readyz").status_code == 200
        STATE["down"] = True
        assert client.get("/readyz").status_code == 200  # pass reused
        time.sleep(ttl + 0.05)
        assert client.get("/readyz").status_code == 503
        STATE["down"] = False
        assert client.get("/readyz").status_code == 503  # failure reused
        time.sleep(ttl / 4 + 0.05)
        assert client.get("/readyz").status_code == 200  # long before the TTL
    finally:
        STATE["down"] = False
