"""The Django-cache backend, the low-level API, and the DRF adapter."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from opskit.ratelimit import adecide, decide

from .conftest import rl_settings


@pytest.mark.redis
def test_cache_backend_same_semantics(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, BACKEND="cache", CACHE="default")
    out = [decide("k", "2/m;3/h", scope="cache").outcome for _ in range(3)]
    assert out == ["allowed", "allowed", "limited"]
    strict = [decide("k", "2/m", scope="cs", strict=True) for _ in range(3)]
    assert [d.outcome for d in strict] == ["allowed", "allowed", "limited"]
    assert 0 < strict[-1].retry_after <= 60


@pytest.mark.redis
async def test_cache_backend_async(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, BACKEND="cache", CACHE="default")
    out = [(await adecide("k", "1/m", scope="acache")).outcome for _ in range(2)]
    assert out == ["allowed", "limited"]


@pytest.mark.redis
def test_decide_with_request_cost_and_burst() -> None:
    rf = RequestFactory()
    req = rf.get("/", REMOTE_ADDR="198.51.100.9")
    d = decide(req, "10/m", scope="cost", cost=4)
    assert d.key == "ip:198.51.100.9" and d.remaining == 6
    assert decide(req, "10/m", scope="cost", cost=7).outcome == "limited"
    # burst=1: no bursting at all, one request per 6 s.
    assert [decide("b", "10/m", scope="burst", burst=1).outcome for _ in range(2)] == [
        "allowed",
        "limited",
    ]


@pytest.mark.redis
def test_memory_per_key_is_small(rl_prefix: str) -> None:
    from django_redis import get_redis_connection

    d = decide("memory", "100/h", scope="memory")
    assert d.outcome == "allowed"
    r = get_redis_connection("redis")
    (key,) = list(r.scan_iter(match=rl_prefix + ":*"))
    assert r.type(key) == b"string"
    assert r.memory_usage(key) <= 128


@pytest.mark.redis
@pytest.mark.django_db
def test_drf_throttle() -> None:
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from opskit.ratelimit.drf import OpsKitThrottle

    class Throttle(OpsKitThrottle):
        rate = "2/m"
        key = "ip"

    class View(APIView):
        throttle_classes = [Throttle]
        authentication_classes: list[Any] = []
        permission_classes: list[Any] = []

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    view = View.as_view()
    factory = APIRequestFactory()
    codes = [view(factory.get("/", REMOTE_ADDR="192.0.2.50")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    r = view(factory.get("/", REMOTE_ADDR="192.0.2.50"))
    assert int(r["Retry-After"]) >= 1


@pytest.mark.redis
@pytest.mark.django_db
def test_drf_throttle_fail_closed_is_503(settings: Any, rl_prefix: str) -> None:
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from opskit.ratelimit.drf import OpsKitThrottle

    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE="missing", FAIL_OPEN=False)

    class Throttle(OpsKitThrottle):
        rate = "2/m"

    class View(APIView):
        throttle_classes = [Throttle]
        authentication_classes: list[Any] = []
        permission_classes: list[Any] = []

        def get(self, request: Any) -> Response:
            return Response({"ok": True})

    r = View.as_view()(APIRequestFactory().get("/"))
    assert r.status_code == 503
    assert r.data["detail"].code == "rate_limiter_unavailable"


@pytest.mark.redis
async def test_reply_parser_is_the_one_this_run_tests() -> None:
    """`make test` runs the suite with hiredis (Django 5.2) and without (4.2).

    The limiter's own sync and async connections use hiredis's C parser
    exactly when it is installed, so both runs exercise what they claim.
    """
    import os

    import redis.utils

    from opskit.ratelimit.core import get_backend

    expected = os.environ.get("OPSKIT_TEST_HIREDIS")
    if expected is not None:
        assert redis.utils.HIREDIS_AVAILABLE is (expected == "1")
    assert decide("parser", "100/s", scope="parser").outcome == "allowed"
    assert (await adecide("parser", "100/s", scope="parser")).outcome == "allowed"
    backend: Any = get_backend()
    # redis-py picks hiredis by itself when installed: the limiter's
    # connections carry no parser choice of their own.
    pool = backend.client().connection_pool
    conn = pool.get_connection()
    try:
        name = type(conn._parser).__name__
    finally:
        pool.release(conn)
    assert ("Hiredis" in name) is redis.utils.HIREDIS_AVAILABLE, name


@pytest.mark.redis
def test_unix_socket_location(settings: Any, rl_prefix: str, tmp_path: Any) -> None:
    """``unix://`` aliases reach the server over its socket (redis-py's unix_socket_path)."""
    from django.conf import settings as django_settings

    from tests.support.redis_topology import RedisServer

    sock = str(tmp_path / "redis.sock")
    with RedisServer("--unixsocket", sock, "--unixsocketperm", "700") as server:
        caches = dict(django_settings.CACHES)
        caches["rlunix"] = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"unix://{sock}?db=0",
        }
        settings.CACHES = caches
        settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, CACHE="rlunix")
        assert [decide("u", "1/m", scope="unix").outcome for _ in range(2)] == [
            "allowed",
            "limited",
        ]
        # The limiter's kept connection is a unix-socket client (flags=U);
        # redis-cli itself comes over TCP.
        clients = server.cli("CLIENT", "LIST").splitlines()
        assert any(" flags=U " in line for line in clients), clients
