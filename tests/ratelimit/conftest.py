from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django_redis import get_redis_connection

from opskit.ratelimit import core
from tests.support.redis_topology import (
    RedisCluster,
    RedisServer,
    SentinelGroup,
    free_port,
    redis_cluster,
    sentinel_group,
)

__all__ = ["PrivateRedis", "free_port", "redis_cluster", "rl_settings", "sentinel_group"]


def rl_settings(**overrides: Any) -> dict[str, Any]:
    """The test settings' ``OPSKIT`` with these ``RATELIMIT`` keys (not cumulative)."""
    from tests import settings as test_settings

    base = dict(test_settings.OPSKIT)
    rl = dict(base.get("RATELIMIT", {}))
    # A stall of a loaded 2-core machine must not open the breaker in tests
    # about something else; the fault tests ask for the defaults.
    rl["SOCKET_TIMEOUT"] = 1.0
    rl.update(overrides)
    base["RATELIMIT"] = rl
    return base


@pytest.fixture(autouse=True)
def rl_prefix(settings: Any) -> Iterator[str]:
    """A key prefix of our own per test; its keys are deleted afterwards."""
    prefix = f"opskit-test-{os.getpid()}-{uuid.uuid4().hex[:8]}:rl"
    settings.OPSKIT = rl_settings(KEY_PREFIX=prefix)
    core.limited_log.clear()
    yield prefix
    r = get_redis_connection("redis")
    keys = list(r.scan_iter(match=prefix + ":*", count=1000))
    if keys:
        r.delete(*keys)


@pytest.fixture(autouse=True)
async def close_async_pools(rl_prefix: str) -> Any:
    """Async connections belong to the test's event loop: close them with it."""
    yield
    from opskit.ratelimit.backends import aclose_all

    current = core.get_backend() if core.get_backend.cache_info().currsize else None
    await aclose_all(current)


class PrivateRedis(RedisServer):
    """A redis-server of our own, to stop, freeze and restart."""


@pytest.fixture
def private_redis(settings: Any) -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    caches = dict(django_settings.CACHES)
    caches["rlprivate"] = {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": server.url,
        "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
    }
    settings.CACHES = caches
    try:
        yield server
    finally:
        server.cleanup()


TOPOLOGIES = ("single", "cluster", "sentinel")


class Topology:
    """One Redis topology as a test sees it: a cache alias and its data servers."""

    alias = "rltopo"

    def __init__(self, kind: str, servers: list[RedisServer], cache: dict[str, Any]) -> None:
        self.kind = kind
        self.servers = servers
        self.cache = cache
        self.cluster: RedisCluster | None = None

    def server_for(self, key: str) -> RedisServer:
        """The server a key lives on (on a Cluster, the node owning its slot)."""
        if self.cluster is not None:
            return self.cluster.node_for(key)
        return self.servers[0]


@pytest.fixture(scope="session")
def quiet_sentinel_group() -> Iterator[SentinelGroup]:
    """A session's Sentinel group that a short freeze does not fail over (5 s down-after)."""
    with SentinelGroup(down_after_ms=5000) as group:
        yield group


@pytest.fixture(params=TOPOLOGIES)
def topology(request: pytest.FixtureRequest, settings: Any, rl_prefix: str) -> Iterator[Topology]:
    """The limiter on a private single node, the session's Cluster or its Sentinel group."""
    kind = request.param
    single: RedisServer | None = None
    if kind == "single":
        single = RedisServer()
        single.start()
        topo = Topology(
            kind,
            [single],
            {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": single.url,
                "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
            },
        )
    elif kind == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        topo = Topology(kind, cluster.servers, cluster.cache_settings())
        topo.cluster = cluster
    else:
        group: SentinelGroup = request.getfixturevalue("quiet_sentinel_group")
        topo = Topology(kind, [group.master_server], group.cache_settings())
    caches = dict(django_settings.CACHES)
    caches[Topology.alias] = topo.cache
    settings.CACHES = caches
    settings.OPSKIT = rl_settings(
        KEY_PREFIX=rl_prefix,
        CACHE=Topology.alias,
        TOPOLOGY="cluster" if kind == "cluster" else "auto",
    )
    try:
        yield topo
    finally:
        for server in topo.servers:
            if server.proc is not None:
                server.thaw()  # a failed fault test must not leave it frozen
        if single is not None:
            single.cleanup()
