"""/metrics is closed unless the address is allowed or the token matches."""

from __future__ import annotations

from typing import Any

from django.test import AsyncClient, Client
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from tests.asgi import asgi_get

from .conftest import parse

TOKEN = "s3cret-token-of-32-characters-xx"


def test_loopback_is_allowed_by_default(fresh: Any) -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert response["Cache-Control"] == "no-store"
    assert any(s.name == "http_server_active_requests" for s in parse(response.content.decode()))


def test_other_addresses_are_denied(fresh: Any) -> None:
    for addr in ("203.0.113.9", "10.0.0.1", "::ffff:8.8.8.8", "2001:db8::1", "garbage", ""):
        response = Client(REMOTE_ADDR=addr).get("/metrics")
        assert response.status_code == 403, addr
        assert b"http_server" not in response.content


async def test_async_client_is_checked_too(fresh: Any) -> None:
    assert (await AsyncClient().get("/metrics")).status_code == 200
    assert (await asgi_get("/metrics", client=("127.0.0.1", 4321))).status == 200
    assert (await asgi_get("/metrics", client=("203.0.113.9", 4321))).status == 403


def test_bearer_token_opens_it(configure: Any) -> None:
    configure(ALLOWED_IPS=[], BEARER_TOKEN=TOKEN)
    outside = Client(REMOTE_ADDR="203.0.113.9")
    assert outside.get("/metrics").status_code == 403
    assert Client().get("/metrics").status_code == 403  # loopback no longer listed
    ok = outside.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert ok.status_code == 200 and b"http_server_active_requests" in ok.content
    assert outside.get("/metrics", HTTP_AUTHORIZATION=f"bearer {TOKEN}").status_code == 200
    for bad in (
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Basic {TOKEN}",
        "Bearer ",
        TOKEN,
        "Bearer \u00e9\u00e9",
    ):
        assert outside.get("/metrics", HTTP_AUTHORIZATION=bad).status_code == 403, bad


def test_no_token_configured_means_no_token_accepted(configure: Any) -> None:
    configure(ALLOWED_IPS=[])
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer None").status_code == 403


def test_allowed_ranges_and_trusted_proxies(configure: Any, settings: Any) -> None:
    configure(ALLOWED_IPS=["10.1.0.0/16"])
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.2.0.1").get("/metrics").status_code == 403
    # Behind a trusted proxy the real client is checked, not the proxy...
    settings.OPSKIT = {**settings.OPSKIT, "TRUSTED_PROXIES": ["10.1.0.0/16"]}
    proxied = Client(REMOTE_ADDR="10.1.0.5")
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 403
    # ...and a client cannot forge its way in through an untrusted peer.
    forged = Client(REMOTE_ADDR="198.51.100.7")
    assert forged.get("/metrics", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_openmetrics_by_negotiation(fresh: Any) -> None:
    response = Client().get(
        "/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    body = response.content.decode()
    assert body.endswith("# EOF\n")
    names = {f.name for f in om_parse(body)}
    assert {"http_server_request_duration_seconds", "http_server_active_requests"} <= names
    plain = Client().get("/metrics", HTTP_ACCEPT="text/plain")
    assert plain["Content-Type"].startswith("text/plain")


def test_only_get_and_head(fresh: Any) -> None:
    assert Client().post("/metrics").status_code == 405
    assert Client().head("/metrics").status_code == 200
