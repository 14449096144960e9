"""What only a Cluster or a Sentinel group does: MOVED, a wrong topology, a failover."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from opskit.ratelimit import Limiter
from opskit.ratelimit.checks import check_settings
from opskit.ratelimit.core import get_backend
from tests.support.redis_topology import RedisCluster, RedisServer, SentinelGroup
from tests.support.timing import SLACK

from .conftest import rl_settings

pytestmark = [pytest.mark.redis]


def _use(settings: Any, rl_prefix: str, alias: str, cache: dict[str, Any], **kw: Any) -> None:
    caches = dict(django_settings.CACHES)
    caches[alias] = cache
    settings.CACHES = caches
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE=alias, **kw)


def _e306(settings: Any) -> list[Any]:
    import tests.ratelimit.urls  # noqa: F401  (declares limits: the check applies)

    return [e for e in check_settings() if e.id == "opskit.E306"]


def _misconfigured(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", "") == "ratelimit.misconfigured"]


def _nameless(settings: Any, rl_prefix: str, alias: str, group: SentinelGroup) -> None:
    """The group's alias with a ``LOCATION`` that names no service."""
    _use(settings, rl_prefix, alias, {**group.cache_settings(), "LOCATION": "redis:///0"})


def test_cluster_client_follows_a_slot_migration(
    redis_cluster: RedisCluster, settings: Any, rl_prefix: str
) -> None:
    """A slot moves to another node mid-run: MOVED is followed, the count carries on."""
    _use(settings, rl_prefix, "rlcluster", redis_cluster.cache_settings(), TOPOLOGY="cluster")
    limiter = Limiter("100/h", scope=f"moved-{uuid.uuid4().hex}")
    (key,) = limiter.keys("k", rl_prefix)
    assert limiter.decide("k").limits[0].remaining == 99
    src = redis_cluster.node_for(key)
    dst = next(s for s in redis_cluster.servers if s is not src)
    slot = src.cli("CLUSTER", "KEYSLOT", key).strip()
    src_id, dst_id = src.cli("CLUSTER", "MYID").strip(), dst.cli("CLUSTER", "MYID").strip()
    dst.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    keys = src.cli("CLUSTER", "GETKEYSINSLOT", slot, "1000").split()
    assert key in keys
    src.cli("MIGRATE", dst.host, str(dst.port), "", "0", "5000", "KEYS", *keys)
    for server in redis_cluster.servers:
        server.cli("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    assert redis_cluster.node_for(key) is dst
    d = limiter.decide("k")
    assert (d.outcome, d.limits[0].remaining) == ("allowed", 98)
    assert not get_backend().breaker.failures


def test_cluster_node_without_cluster_topology_is_loud_and_per_fail_mode(
    redis_cluster: RedisCluster, settings: Any, rl_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": redis_cluster.url,  # one node, a plain client: the misconfiguration
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
    _use(settings, rl_prefix, "rlnode", cache)
    assert [e.id for e in _e306(settings)] == ["opskit.E306"]
    first = redis_cluster.servers[0]
    limiter = Limiter("100/h", scope=f"wrong-{uuid.uuid4().hex}", fail_open=False)
    ident = next(
        f"k{i}"
        for i in range(1000)
        if redis_cluster.node_for(limiter.keys(f"k{i}", rl_prefix)[0]) is not first
    )
    caplog.set_level(logging.ERROR, logger="opskit.ratelimit")
    d = limiter.decide(ident)
    assert (d.outcome, d.allowed, d.error) == ("error", False, "MovedError")
    loud = _misconfigured(caplog)
    assert len(loud) == 1 and loud[0].levelno == logging.ERROR
    # Fail open is open, but never silently: the same loud event (throttled).
    open_limiter = Limiter("100/h", scope=limiter.scope)
    assert open_limiter.decide(ident).allowed
    # The right topology on the same alias: no check error, decisions exact.
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE="rlnode", TOPOLOGY="cluster")
    assert _e306(settings) == []
    assert limiter.decide(ident).limits[0].remaining == 99


def test_cluster_topology_on_a_plain_server_is_e306(settings: Any, rl_prefix: str) -> None:
    with RedisServer() as plain:
        cache = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": plain.url}
        _use(settings, rl_prefix, "rlplain", cache, TOPOLOGY="cluster")
        (error,) = _e306(settings)
        assert "not in Cluster mode" in error.msg
        _use(settings, rl_prefix, "rlplain", cache, TOPOLOGY="auto")
        assert _e306(settings) == []


@pytest.fixture
def failover_group() -> Iterator[SentinelGroup]:
    """A group of its own: this test kills its master."""
    with SentinelGroup(down_after_ms=1000) as group:
        yield group


@pytest.mark.slow
def test_sentinel_failover_resumes_without_a_restart(
    failover_group: SentinelGroup, settings: Any, rl_prefix: str
) -> None:
    cooldown = 0.5
    _use(
        settings,
        rl_prefix,
        "rlfailover",
        failover_group.cache_settings(),
        SOCKET_TIMEOUT=0.25,
        BREAKER_COOLDOWN=cooldown,
    )
    from opskit.health.builtin import RedisCheck

    limiter = Limiter("1000/h", scope=f"failover-{uuid.uuid4().hex}")
    assert limiter.decide("k").outcome == "allowed"
    backend = get_backend()
    check = RedisCheck("rlfailover", connect_timeout=0.5)
    assert check.run() is None and check.cluster is False
    old = failover_group.master
    new = failover_group.kill_master()
    assert new != old
    promoted = time.monotonic()
    while (d := limiter.decide("k")).outcome != "allowed":
        assert d.allowed  # fail open meanwhile, never an exception
        assert time.monotonic() - promoted < cooldown + 3 * SLACK, d.error
        time.sleep(0.05)
    assert get_backend() is backend  # the same process-wide client found the new master
    assert failover_group.master_server.port == new[1]
    # /readyz's Redis check follows the failover too (a kept client).
    check.run()
    assert check.client.connection_pool.get_master_address() == new
    check.close()


def test_readyz_redis_check_on_a_cluster(redis_cluster: RedisCluster, settings: Any) -> None:
    from opskit.health.builtin import RedisCheck

    _use(settings, "unused", "rlhealth", redis_cluster.cache_settings())
    check = RedisCheck("rlhealth", connect_timeout=0.5)
    try:
        assert check.run() is None and check.cluster is True
    finally:
        check.close()


def test_sentinel_location_without_a_service_is_e307_and_loud(
    sentinel_group: SentinelGroup,
    settings: Any,
    rl_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``redis:///0`` names no master: a check error and an ERROR, never a guessed ``""``."""
    import tests.ratelimit.urls  # noqa: F401  (declares limits: the check applies)

    _nameless(settings, rl_prefix, "rlnosvc", sentinel_group)
    (error,) = [e for e in check_settings() if e.id == "opskit.E307"]
    assert "'redis:///0' names none" in error.msg and "redis://<service>/<db>" in error.msg
    assert _e306(settings) == []  # one error for one mistake
    caplog.set_level(logging.ERROR, logger="opskit.ratelimit")
    limiter = Limiter("100/h", scope=f"nosvc-{uuid.uuid4().hex}", fail_open=False)
    d = limiter.decide("k")
    assert (d.outcome, d.allowed, d.error) == ("error", False, "SentinelLocationError")
    loud = _misconfigured(caplog)
    assert len(loud) == 1 and "names none" in loud[0].getMessage()
    # Named, on the same sentinels: no check error, decisions exact.
    _use(settings, rl_prefix, "rlnosvc", sentinel_group.cache_settings())
    assert [e.id for e in check_settings() if e.id.startswith("opskit.E30")] == []
    assert limiter.decide("k").limits[0].remaining == 99


async def test_sentinel_location_without_a_service_async_decisions_follow_the_fail_mode(
    sentinel_group: SentinelGroup,
    settings: Any,
    rl_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The async client (a long-lived loop) reads the alias the same way: no client for ``""``."""
    _nameless(settings, rl_prefix, "rlnosvca", sentinel_group)
    caplog.set_level(logging.ERROR, logger="opskit.ratelimit")
    closed = Limiter("100/h", scope=f"nosvca-{uuid.uuid4().hex}", fail_open=False)
    d = await closed.adecide("k")
    assert (d.outcome, d.allowed, d.error) == ("error", False, "SentinelLocationError")
    opened = await Limiter("100/h", scope=closed.scope).adecide("k")
    assert (opened.outcome, opened.allowed) == ("error", True)
    loud = _misconfigured(caplog)
    assert len(loud) == 1 and "redis://<service>/<db>" in loud[0].getMessage()
    assert not get_backend()._loops  # nothing half-built kept for the loop
