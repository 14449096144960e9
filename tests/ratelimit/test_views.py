"""Decorator and mixin through Django's real handlers, sync and async."""

from __future__ import annotations

import json
import logging
from typing import Any

import django
import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient, Client

from opskit.signals import ratelimit_decided

from .conftest import rl_settings

pytestmark = [pytest.mark.redis, pytest.mark.urls("tests.ratelimit.urls")]


def test_limit_then_429_json_with_headers() -> None:
    c = Client()
    for expected in (2, 1, 0):
        r = c.get("/ip/")
        assert r.status_code == 200
        assert r.json() == {"outcome": "allowed", "remaining": expected}
        assert r["RateLimit-Policy"] == '"3/m";q=3;w=60'
        assert r["RateLimit"].startswith(f'"3/m";r={expected};t=')
    r = c.get("/ip/", HTTP_ACCEPT="application/json")
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "rate_limited"
    retry = int(r["Retry-After"])
    assert 1 <= retry <= 20 and body["retry_after"] == retry
    assert r["RateLimit"] == f'"3/m";r=0;t={retry}'
    assert "X-RateLimit-Limit" not in r


async def test_async_limit_then_429() -> None:
    c = AsyncClient()
    codes = [(await c.get("/aip/")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = await c.get("/aip/", headers={"Accept": "text/html"})
    assert r.status_code == 429
    assert r["Content-Type"].startswith("text/html")
    assert b"Too Many Requests" in r.content
    assert int(r["Retry-After"]) >= 1


def test_html_body_by_accept() -> None:
    c = Client()
    for _ in range(3):
        c.get("/ip/")
    r = c.get("/ip/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert r.status_code == 429 and r["Content-Type"].startswith("text/html")
    r = c.get("/ip/")
    assert r["Content-Type"] == "application/json"


def test_legacy_headers(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, HEADERS="legacy")
    r = Client().get("/ip/")
    assert r["X-RateLimit-Limit"] == "3"
    assert r["X-RateLimit-Remaining"] == "2"
    assert int(r["X-RateLimit-Reset"]) >= 1
    assert "RateLimit-Policy" in r


def test_no_headers(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, HEADERS="none")
    c = Client()
    r = c.get("/ip/")
    assert "RateLimit" not in r and "RateLimit-Policy" not in r
    for _ in range(3):
        r = c.get("/ip/")
    assert r.status_code == 429 and int(r["Retry-After"]) >= 1


@pytest.mark.parametrize("url", ["/multi/", "/amulti/"])
async def test_multiple_limits_counted_only_when_all_pass(url: str) -> None:
    c = AsyncClient()
    r1 = await c.get(url)
    r2 = await c.get(url)
    assert [r1.status_code, r2.status_code] == [200, 200]
    assert r2["RateLimit-Policy"] == '"2/s";q=2;w=1, "3/h";q=3;w=3600'
    assert r2["RateLimit"].startswith('"2/s";r=0;t=')
    assert '"3/h";r=1;' in r2["RateLimit"]
    # The per-second limit refuses the third; the hourly one is not charged.
    r3 = await c.get(url)
    assert r3.status_code == 429
    assert '"3/h";r=1;' in r3["RateLimit"]


def test_block_false_only_marks_request() -> None:
    c = Client()
    assert c.get("/soft/").json()["outcome"] == "allowed"
    r = c.get("/soft/")
    assert r.status_code == 200
    assert r.json() == {"outcome": "limited", "remaining": 0}


def test_shadow_admits_logs_and_signals(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def receiver(sender: Any, scope: str, outcome: str, record: Any, **kw: Any) -> None:
        seen.append(outcome)

    ratelimit_decided.connect(receiver)
    try:
        c = Client()
        with caplog.at_level(logging.WARNING, logger="opskit.ratelimit"):
            codes = [c.get("/shadow/").status_code for _ in range(4)]
    finally:
        ratelimit_decided.disconnect(receiver)
    assert codes == [200, 200, 200, 200]
    assert seen == ["allowed", "shadow", "shadow", "shadow"]
    events = [r for r in caplog.records if getattr(r, "event", None) == "ratelimit.limited"]
    assert len(events) == 1  # throttled: once per client, not once per request
    assert events[0].shadow is True


def test_shadow_setting(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, SHADOW=True)
    c = Client()
    assert [c.get("/ip/").status_code for _ in range(5)] == [200] * 5
    assert c.get("/ip/").json()["outcome"] == "shadow"


def test_limited_event_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    c = Client()
    with caplog.at_level(logging.WARNING, logger="opskit.ratelimit"):
        codes = [c.get("/ip/").status_code for _ in range(8)]
    assert codes.count(429) == 5
    events = [r for r in caplog.records if getattr(r, "event", None) == "ratelimit.limited"]
    assert len(events) == 1
    assert events[0].scope == "tests.ratelimit.urls.ip_view"
    assert (events[0].key_type, len(events[0].key_hash)) == ("ip", 12)
    assert "127.0.0.1" not in events[0].getMessage()


def test_limited_event_never_carries_the_raw_key(caplog: pytest.LogCaptureFixture) -> None:
    """A limit keyed on an API key logs a hash of it: the key itself is a secret."""
    import hashlib

    secret = "sk_live_0123456789abcdef"
    c = Client()
    with caplog.at_level(logging.DEBUG):
        codes = [c.post("/header/", HTTP_X_API_KEY=secret).status_code for _ in range(3)]
    assert codes == [200, 429, 429]
    (event,) = [r for r in caplog.records if getattr(r, "event", None) == "ratelimit.limited"]
    assert event.key_type == "header:X-Api-Key"
    assert event.key_hash == hashlib.sha256(("h:" + secret).encode()).hexdigest()[:12]
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.__dict__)


def test_record_extra_carries_outcome() -> None:
    from opskit import context

    captured: list[Any] = []

    def receiver(sender: Any, record: Any, **kw: Any) -> None:
        captured.append(dict(record.extra["ratelimit"]) if record is not None else None)

    ratelimit_decided.connect(receiver)
    try:
        Client().get("/ip/")
    finally:
        ratelimit_decided.disconnect(receiver)
    assert captured == [
        {"scope": "tests.ratelimit.urls.ip_view", "outcome": "allowed", "remaining": 2}
    ]
    assert context.current() is None


@pytest.mark.parametrize("url", ["/mixin/", "/amixin/"])
async def test_mixin_sync_and_async(url: str) -> None:
    c = AsyncClient()
    codes = [(await c.get(url)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_ip_key_separates_clients() -> None:
    c = Client()
    for _ in range(3):
        assert c.get("/ip/", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert c.get("/ip/", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert c.get("/ip/", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_ipv6_grouped_by_64() -> None:
    c = Client()
    for i in range(3):
        assert c.get("/ip/", REMOTE_ADDR=f"2001:db8:1:2::{i + 1}").status_code == 200
    assert c.get("/ip/", REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 429
    assert c.get("/ip/", REMOTE_ADDR="2001:db8:1:3::1").status_code == 200


def test_spoofed_forwarded_for_cannot_dodge_ip_limit() -> None:
    c = Client()
    codes = [
        c.get("/ip/", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code
        for i in range(6)
    ]
    assert codes == [200, 200, 200, 429, 429, 429]


def test_forwarded_for_honoured_from_trusted_proxy(settings: Any, rl_prefix: str) -> None:
    cfg = rl_settings(KEY_PREFIX=rl_prefix)
    cfg["TRUSTED_PROXIES"] = ["10.9.0.0/16"]
    settings.OPSKIT = cfg
    c = Client()
    codes = [
        c.get(
            "/ip/", REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{i // 3}"
        ).status_code
        for i in range(6)
    ]
    assert codes == [200] * 6


@pytest.mark.django_db
def test_staff_exempt_and_not_when_disabled(settings: Any, rl_prefix: str) -> None:
    staff = User.objects.create_user("boss", password="pw", is_staff=True)
    c = Client()
    c.force_login(staff)
    assert [c.get("/ip/").status_code for _ in range(5)] == [200] * 5
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, EXEMPT_STAFF=False)
    assert [c.get("/ip/").status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.mark.django_db
def test_user_key_per_user() -> None:
    a = User.objects.create_user("a", password="pw")
    b = User.objects.create_user("b", password="pw")
    ca, cb = Client(), Client()
    ca.force_login(a)
    cb.force_login(b)
    assert ca.get("/user/").status_code == 200
    assert ca.get("/user/").status_code == 429
    assert cb.get("/user/").status_code == 200
    # Anonymous clients share one bucket: "user" never means unlimited.
    assert Client().get("/user/").status_code == 200
    assert Client().get("/user/", REMOTE_ADDR="10.1.1.1").status_code == 429


def test_allow_list(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, ALLOW_LIST=["192.0.2.0/24"])
    c = Client()
    assert [c.get("/ip/", REMOTE_ADDR="192.0.2.7").status_code for _ in range(5)] == [200] * 5
    assert [c.get("/ip/", REMOTE_ADDR="192.0.3.7").status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]


def test_header_key_and_methods() -> None:
    c = Client()
    assert c.post("/header/", HTTP_X_API_KEY="k1").status_code == 200
    assert c.post("/header/", HTTP_X_API_KEY="k1").status_code == 429
    assert c.post("/header/", HTTP_X_API_KEY="k2").status_code == 200
    # GET is not in methods: never limited, no headers.
    r = c.get("/header/", HTTP_X_API_KEY="k1")
    assert r.status_code == 200 and "RateLimit" not in r


def test_strict_view() -> None:
    c = Client()
    codes = [c.get("/strict/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_disabled_admits_everything(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, ENABLED=False)
    c = Client()
    assert [c.get("/ip/").status_code for _ in range(5)] == [200] * 5


async def test_disabled_decides_raw_keys_without_redis(settings: Any, rl_prefix: str) -> None:
    """ENABLED=False: a raw key is exempt too, sync and async, keeping its identity."""
    from opskit.ratelimit import adecide, decide

    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, ENABLED=False)
    for d in [decide("login:alice", "1/h") for _ in range(3)] + [
        await adecide("login:alice", "1/h") for _ in range(3)
    ]:
        assert (d.allowed, d.outcome, d.key) == (True, "exempt", "login:alice")
        assert d.limits == ()


def test_429_body_is_json_by_default() -> None:
    c = Client()
    for _ in range(3):
        c.get("/ip/")
    r = c.get("/ip/", HTTP_ACCEPT="*/*")
    assert json.loads(r.content)["error"] == "rate_limited"
    assert r["Cache-Control"] == "no-store"


@pytest.mark.django_db(transaction=True)
async def test_async_view_with_logged_in_users() -> None:
    from asgiref.sync import sync_to_async
    from django.db import connections

    try:
        await _logged_in_users_case()
    finally:
        # The executor thread's connection would keep the test database busy.
        await sync_to_async(connections.close_all)()


async def _logged_in_users_case() -> None:
    from asgiref.sync import sync_to_async

    staff = await sync_to_async(User.objects.create_user)("astaff", password="pw", is_staff=True)
    plain = await sync_to_async(User.objects.create_user)("aplain", password="pw")
    cs, cp = AsyncClient(), AsyncClient()
    await sync_to_async(cs.force_login)(staff)
    await sync_to_async(cp.force_login)(plain)
    staff_codes = [(await cs.get("/aip/")).status_code for _ in range(5)]
    codes = [(await cp.get("/auser/")).status_code for _ in range(3)]
    anon = (await AsyncClient().get("/auser/")).status_code
    if django.VERSION >= (5, 0):
        # Staff: exempt, the user loaded with auser(), no synchronous query.
        assert staff_codes == [200] * 5
        # A user is keyed by id on user_or_ip views; the anonymous client by ip.
        assert (codes, anon) == ([200, 200, 429], 200)
    else:
        # Django 4.2 has no async user API: no 500, the request is keyed by
        # its address and staff are not recognised (documented).
        assert staff_codes == [200, 200, 200, 429, 429]
        assert (codes, anon) == ([200, 200, 429], 429)


def test_bad_ipv6_prefix_setting_is_not_a_500(settings: Any, rl_prefix: str) -> None:
    settings.OPSKIT = rl_settings(KEY_PREFIX=rl_prefix, IPV6_PREFIX=999)
    assert Client().get("/ip/", REMOTE_ADDR="2001:db8::1").status_code == 200


def test_broken_signal_receiver_is_not_a_500() -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    ratelimit_decided.connect(broken)
    try:
        assert Client().get("/ip/").status_code == 200
    finally:
        ratelimit_decided.disconnect(broken)
