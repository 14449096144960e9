"""Secrets in headers, query strings and bodies never reach the output."""

from __future__ import annotations

import pytest
from django.test import AsyncClient, Client, override_settings

from .conftest import Captured

SECRETS = {
    "Authorization": "Bearer SECRET-authz-0001",
    "Proxy-Authorization": "Basic SECRET-proxy-0002",
    "Cookie": "sessionid=SECRET-cookie-0003; csrftoken=SECRET-csrf-0004",
    "X-Api-Key": "SECRET-apikey-0005",
    "X-Auth-Token": "SECRET-token-0006",
}
LOGGED = [*SECRETS, "User-Agent", "X-Tenant"]


@pytest.mark.parametrize("client_cls", [Client, AsyncClient])
async def test_secret_headers_never_written(captured: Captured, client_cls: type) -> None:
    headers = {**SECRETS, "User-Agent": "probe/1.0", "X-Tenant": "acme"}
    with override_settings(OPSKIT={"LOGGING": {"LOG_HEADERS": LOGGED, "LOG_USER_AGENT": True}}):
        resp = client_cls().get("/api/posts/1/", headers=headers)
        if client_cls is AsyncClient:
            resp = await resp
    assert resp.status_code == 200
    assert "SECRET" not in captured.raw
    line = captured.request()
    for name in SECRETS:
        assert line[f"http.request.header.{name.lower()}"] == "[redacted]"
    assert line["http.request.header.x-tenant"] == "acme"
    assert line["user_agent.original"] == "probe/1.0"


def test_headers_not_logged_by_default(captured: Captured) -> None:
    Client().get("/api/posts/1/", headers={"X-Tenant": "acme-tenant", "User-Agent": "ua-probe"})
    assert "acme-tenant" not in captured.raw and "ua-probe" not in captured.raw


def test_query_string_not_logged_by_default(captured: Captured) -> None:
    Client().get("/api/posts/1/?page=2&token=SECRET-q-1")
    assert "url.query" not in captured.request()
    assert "SECRET" not in captured.raw and "page=2" not in captured.raw


@pytest.mark.parametrize(
    "query",
    [
        "password=SECRET1&page=2",
        "page=2&access_token=SECRET2",
        "client_secret=SECRET3&page=2",
        "page=2&API_KEY=SECRET4",
        "page=2&pass%77ord=SECRET5",  # percent-encoded name
        "page=2&Signature=SECRET6&x=",
        "page=2&session_id=SECRET7&auth=SECRET8&code=SECRET9",
    ],
)
def test_secret_query_params_redacted(captured: Captured, query: str) -> None:
    with override_settings(OPSKIT={"LOGGING": {"LOG_QUERY_STRING": True}}):
        Client().get(f"/api/posts/1/?{query}")
        Client(raise_request_exception=False).get(f"/boom/?{query}")
        Client().get(f"/nope/?{query}")
    assert "SECRET" not in captured.raw
    queries = [line["url.query"] for line in captured.requests()]
    assert len(queries) == 3
    assert all("page=2" in q and "[redacted]" in q for q in queries)


def test_custom_deny_list(captured: Captured) -> None:
    opskit = {"LOGGING": {"LOG_QUERY_STRING": True, "REDACT_PARAMS": ["email"]}}
    with override_settings(OPSKIT=opskit):
        Client().get("/api/posts/1/?email=a@example.org&page=2")
    assert captured.request()["url.query"] == "email=[redacted]&page=2"
    assert "example.org" not in captured.raw


@pytest.mark.django_db
def test_request_body_never_written(captured: Captured) -> None:
    with override_settings(
        OPSKIT={"LOGGING": {"LOG_QUERY_STRING": True, "LOG_HEADERS": ["Content-Type"]}}
    ):
        Client().post("/api/posts/1/", {"password": "SECRET-body-1", "card": "4111"})
        Client().post("/nope/", "SECRET-body-2", content_type="text/plain")
    assert "SECRET" not in captured.raw and "4111" not in captured.raw
    lines = captured.requests()
    assert [line["http.request.method"] for line in lines] == ["POST", "POST"]
    assert lines[1]["http.request.header.content-type"] == "text/plain"
