"""The limiter behind Redis Sentinel, as django-redis configures it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory

from opskit.ratelimit import adecide, decide

from .conftest import PrivateRedis, free_port, rl_settings


def _wait_ping(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("redis-sentinel did not start")


def _wait_master_seen(port: int, name: str) -> None:
    """Until the sentinel has checked the master (flags exactly "master")."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["redis-cli", "-p", str(port), "SENTINEL", "MASTER", name],
            capture_output=True,
            text=True,
        ).stdout.split()
        if "flags" in out and out[out.index("flags") + 1] == "master":
            return
        time.sleep(0.05)
    raise RuntimeError("the sentinel never saw its master")


@pytest.fixture
def sentinel_cache(settings: Any, rl_prefix: str) -> Iterator[PrivateRedis]:
    master = PrivateRedis()
    master.start()
    port = free_port()
    # django-redis caches connection pools by URL for the whole process: a
    # service name of our own keeps an earlier test's sentinel out of it.
    name = f"opskit{port}"
    tmp = tempfile.mkdtemp(prefix="opskit-rl-sentinel-")
    conf = os.path.join(tmp, "sentinel.conf")
    with open(conf, "w") as f:
        f.write(
            f"port {port}\nbind 127.0.0.1\ndir {tmp}\n"
            f"sentinel monitor {name} 127.0.0.1 {master.port} 1\n"
        )
    proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", conf, "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ping(port)
        _wait_master_seen(port, name)
        caches = dict(django_settings.CACHES)
        caches["sentinel"] = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://{name}/0",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.SentinelClient",
                "CONNECTION_FACTORY": "django_redis.pool.SentinelConnectionFactory",
                "SENTINELS": [("127.0.0.1", port)],
            },
        }
        settings.CACHES = caches
        settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE="sentinel")
        yield master
    finally:
        proc.kill()
        proc.wait(10)
        master.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(master.dir, ignore_errors=True)


def test_decisions_reach_the_sentinel_master(sentinel_cache: PrivateRedis) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7")
    outcomes = [decide(request, "3/m", key="ip", scope="sentinel").allowed for _ in range(5)]
    assert outcomes == [True, True, True, False, False]
    out = subprocess.run(
        ["redis-cli", "-p", str(sentinel_cache.port), "--scan"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "rl" in out.stdout  # the state lives on the master the sentinel names


async def test_async_decisions_reach_the_sentinel_master(sentinel_cache: PrivateRedis) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.8")
    outcomes = [
        (await adecide(request, "2/m", key="ip", scope="sentinel-a")).allowed for _ in range(3)
    ]
    assert outcomes == [True, True, False]
