"""``/readyz/<check>`` is a detail: check names cannot be probed without the token."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings

from tests.asgi import asgi_get

SW = "tests.health.checks_for_tests.Switch"
TOKEN = "t0ken-for-health-gating"
OUTSIDE = "203.0.113.9"


def sw(name: str, mode: str = "pass") -> dict[str, Any]:
    return {"check": SW, "name": name, "mode": mode}


CHECKS = [sw("db.default", "fail"), sw("cache.default")]


def _answer(resp: Any) -> tuple[int, bytes]:
    return resp.status_code, resp.content


@pytest.mark.parametrize("mode", ["fail", "pass"])
def test_real_and_made_up_names_answer_alike_without_the_token(health: Any, mode: str) -> None:
    health(CHECKS=[sw("db.default", mode)])
    client = Client(REMOTE_ADDR=OUTSIDE)
    real = _answer(client.get("/readyz/db.default"))
    made_up = _answer(client.get("/readyz/no.such.check"))
    assert real == made_up == (404, b'{"status":"fail"}')
    assert b"db.default" not in real[1]
    # HEAD, other readiness paths and ?verbose change nothing.
    assert client.head("/readyz/db.default").status_code == 404
    assert _answer(client.get("/healthz/db.default?verbose")) == made_up


async def test_asgi_gating_matches(health: Any) -> None:
    health(CHECKS=CHECKS)
    peer = (OUTSIDE, 4242)
    real = await asgi_get("/readyz/db.default", client=peer)
    made_up = await asgi_get("/readyz/no.such.check", client=peer)
    assert (real.status, real.body) == (made_up.status, made_up.body) == (404, b'{"status":"fail"}')
    allowed = await asgi_get("/readyz/db.default", client=peer, authorization=f"Bearer {TOKEN}")
    assert allowed.status == 404  # no TOKEN configured: no token opens it
    health(CHECKS=CHECKS, TOKEN=TOKEN)
    allowed = await asgi_get("/readyz/db.default", client=peer, authorization=f"Bearer {TOKEN}")
    assert allowed.status == 503


def test_the_token_opens_it(health: Any) -> None:
    health(CHECKS=CHECKS, TOKEN=TOKEN)
    client = Client(REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert client.get("/readyz/db.default").status_code == 503
    assert client.get("/readyz/cache.default").status_code == 200
    assert client.get("/readyz/no.such.check").status_code == 404
    wrong = Client(REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}x")
    assert wrong.get("/readyz/cache.default").status_code == 404


def test_a_loopback_client_the_chain_proves(health: Any) -> None:
    health(CHECKS=CHECKS)
    assert Client().get("/readyz/cache.default").status_code == 200  # REMOTE_ADDR 127.0.0.1
    # A loopback peer forwarding for someone is an undeclared proxy: not proven.
    via_proxy = Client(HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert via_proxy.get("/readyz/cache.default").status_code == 404
    same_host = override_settings(
        OPSKIT={"TRUSTED_PROXIES": ["127.0.0.0/8"], "HEALTH": {"CHECKS": CHECKS}}
    )
    same_host.enable()
    try:
        _behind_a_same_host_proxy()
    finally:
        same_host.disable()


def _behind_a_same_host_proxy() -> None:
    # A chain of trusted proxies that ends on this host: proven.
    assert Client(HTTP_X_FORWARDED_FOR="::1").get("/readyz/cache.default").status_code == 200
    # The audit's header, behind a proxy on the same host: the client is remote.
    oversized = Client(HTTP_X_FORWARDED_FOR="j" * 4100 + ", 203.0.113.7")
    assert oversized.get("/readyz/cache.default").status_code == 404
    junk = Client(HTTP_X_FORWARDED_FOR="127.0.0.1, fe80::1%INJECT")
    assert junk.get("/readyz/cache.default").status_code == 404


def test_a_setting_opens_it(health: Any) -> None:
    health(CHECKS=CHECKS, PUBLIC_CHECK_PATHS=True)
    client = Client(REMOTE_ADDR=OUTSIDE)
    assert client.get("/readyz/db.default").status_code == 503
    assert client.get("/readyz/no.such.check").status_code == 404
    health(CHECKS=CHECKS, DETAILS="always")
    assert client.get("/readyz/cache.default").status_code == 200
    health(CHECKS=CHECKS, DETAILS="never", TOKEN=TOKEN)
    authed = Client(REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert authed.get("/readyz/cache.default").status_code == 404


def test_kubernetes_probes_are_unchanged(health: Any) -> None:
    health(CHECKS=[sw("db.default"), sw("cache.default")])
    client = Client(REMOTE_ADDR=OUTSIDE)
    for path in ("/readyz", "/livez", "/healthz", "/startupz", "/readyz?exclude=cache.default"):
        resp = client.get(path)
        assert _answer(resp) == (200, b'{"status":"pass"}'), path
