from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django_redis import get_redis_connection

from opskit.ratelimit import core


def rl_settings(**overrides: Any) -> dict[str, Any]:
    """The test settings' ``OPSKIT`` with these ``RATELIMIT`` keys (not cumulative)."""
    from tests import settings as test_settings

    base = dict(test_settings.OPSKIT)
    rl = dict(base.get("RATELIMIT", {}))
    # A 50 ms stall of a loaded 2-core machine must not open the breaker in
    # tests about something else; test_failure.py asks for the 50 ms default.
    rl["SOCKET_TIMEOUT"] = 1.0
    rl.update(overrides)
    base["RATELIMIT"] = rl
    return base


@pytest.fixture(autouse=True)
def rl_prefix(settings: Any) -> Iterator[str]:
    """A key prefix of our own per test; its keys are deleted afterwards."""
    prefix = f"opskit-test-{os.getpid()}-{uuid.uuid4().hex[:8]}:rl"
    settings.OPSKIT = rl_settings(KEY_PREFIX=prefix)
    core._quiet_until.clear()
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own, to stop, freeze and restart."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="opskit-rl-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


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
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
