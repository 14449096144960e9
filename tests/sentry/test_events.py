"""Envelopes as Sentry would receive them: tags, scrubbing, traces."""

from __future__ import annotations

from typing import Any

import pytest
import sentry_sdk
from django.test import AsyncClient, Client

from tests.asgi import asgi_get, wsgi_get

# django_db: Django's real handlers close old connections on request_finished.
pytestmark = [pytest.mark.urls("tests.sentry.urls"), pytest.mark.django_db]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture(params=["auto", "django"])
def mode(request: pytest.FixtureRequest) -> str:
    """Errors only: opskit's lean integration ("auto") and sentry-sdk's."""
    return str(request.param)


def _on(sentry_on: Any, mode: str, **kw: Any) -> Any:
    sink = sentry_on(INTEGRATION=mode, **kw)
    from opskit.sentry.state import state

    assert state.lean is (mode == "auto")
    return sink


def _only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, [e.get("message") or e.get("exception") for e in events]
    return events[0]


def test_sync_exception_carries_request_id_and_route(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    resp = Client(raise_request_exception=False).get("/sentry/boom/7/")
    assert resp.status_code == 500
    event = _only(sink.wait_events(1))
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    assert event["tags"]["request_id"] == resp["X-Request-ID"]
    assert event["tags"]["http.route"] == "sentry/boom/<int:pk>/"
    assert "user" not in event or "id" not in event["user"]


async def test_async_exception_carries_request_id_and_route(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    resp = await AsyncClient(raise_request_exception=False).get("/sentry/aboom/3/")
    assert resp.status_code == 500
    event = _only(sink.wait_events(1))
    assert event["exception"]["values"][-1]["type"] == "KeyError"
    assert event["tags"]["request_id"] == resp["X-Request-ID"]
    assert event["tags"]["http.route"] == "sentry/aboom/<int:pk>/"


async def test_sync_view_under_asgi_handler(sentry_on: Any, mode: str) -> None:
    # The real ASGIHandler runs the sync view in a sync_to_async thread;
    # scopes and the record follow it with the thread-scope fork off.
    sink = _on(sentry_on, mode)
    resp = await asgi_get("/sentry/boom/2/?page=1")
    assert resp.status == 500
    event = _only(sink.wait_events(1))
    assert event["tags"]["request_id"] == resp.headers["x-request-id"]
    assert event["tags"]["http.route"] == "sentry/boom/<int:pk>/"
    assert event["request"]["query_string"] == "page=1"  # an ALLOW_PARAMS name


def test_message_in_sync_view_and_log_ids_match_event(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    resp = Client().get("/sentry/message/")
    event = _only(sink.wait_events(1))
    assert event["tags"]["request_id"] == resp["X-Request-ID"]
    assert event["tags"]["http.route"] == "sentry/message/"
    # The log line's ids (record.trace_id / span_id) are the event's trace.
    trace = event["contexts"]["trace"]
    assert resp.json() == {"trace_id": trace["trace_id"], "span_id": trace["span_id"]}


async def test_message_in_async_view_through_thread_hop(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    resp = await AsyncClient().get("/sentry/amessage/")
    event = _only(sink.wait_events(1))
    assert event["tags"]["request_id"] == resp["X-Request-ID"]
    assert event["tags"]["http.route"] == "sentry/amessage/"
    assert resp.json()["trace_id"] == event["contexts"]["trace"]["trace_id"]


def test_each_request_has_its_own_trace(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    first = wsgi_get("/sentry/message/").json()
    second = wsgi_get("/sentry/message/").json()
    assert first["trace_id"] != second["trace_id"]
    events = sink.wait_events(2)
    assert sorted(e["contexts"]["trace"]["trace_id"] for e in events) == sorted(
        [first["trace_id"], second["trace_id"]]
    )


def test_events_outside_requests_have_no_request_tags(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    sentry_sdk.capture_message("from a management command")
    event = _only(sink.wait_events(1))
    assert "request_id" not in event.get("tags", {})


def test_secrets_scrubbed_from_headers_query_and_cookies(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode, SEND_DEFAULT_PII=True)  # PII on: Sentry would send cookies
    resp = wsgi_get(
        "/sentry/boom/1/?page=2&access_token=tok-SECRET-1&Signature=sig-SECRET-2",
        x_api_key="key-SECRET-3",
        authorization="Bearer auth-SECRET-4",
        x_auth_token="tok-SECRET-5",
        cookie="sessionid=sess-SECRET-6; theme=dark-SECRET-7",
        x_visible="visible-value",
    )
    assert resp.status == 500
    event = _only(sink.wait_events(1))
    raw = repr(event)
    for n in range(1, 8):
        assert f"SECRET-{n}" not in raw, n
    request = event["request"]
    assert "page=2" in request["query_string"]
    assert "access_token=[Filtered]" in request["query_string"]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-api-key"] == "[Filtered]"
    assert headers["x-visible"] == "visible-value"
    assert request["cookies"]["theme"] == "[Filtered]"


def test_user_id_only_with_pii(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode, SEND_DEFAULT_PII=False)
    Client(raise_request_exception=False).get("/sentry/login-boom/")
    event = _only(sink.wait_events(1))
    assert "id" not in event.get("user", {})
    sentry_sdk.flush()
    from opskit.sentry import shutdown

    shutdown()
    sink = _on(sentry_on, mode, SEND_DEFAULT_PII=True)
    Client(raise_request_exception=False).get("/sentry/login-boom/")
    event = _only(sink.wait_events(1))
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="sentry-user")
    assert event["user"]["id"] == str(user.pk), event["user"]


@pytest.mark.redis
def test_probes_never_traced_even_at_full_rate(sentry_on: Any) -> None:
    sink = sentry_on(TRACES_SAMPLE_RATE=1.0)
    ids = []
    for path in ("/healthz", "/metrics", "/sentry/ok/5/", "/healthz", "/metrics"):
        resp = wsgi_get(path)
        assert resp.status == 200
        ids.append(resp.headers["x-request-id"])
    txns = sink.transactions()
    assert [t["tags"]["http.route"] for t in txns] == ["sentry/ok/<int:pk>/"]
    assert txns[0]["tags"]["request_id"] == ids[2]


@pytest.mark.redis
async def test_probes_never_traced_under_asgi(sentry_on: Any) -> None:
    sink = sentry_on(TRACES_SAMPLE_RATE=1.0)
    for path in ("/healthz", "/sentry/ok/2/", "/metrics"):
        assert (await asgi_get(path)).status == 200
    txns = sink.transactions()
    assert [t["tags"]["http.route"] for t in txns] == ["sentry/ok/<int:pk>/"]
    assert txns[0]["transaction"] == "/sentry/ok/{pk}/"  # the SDK's own naming


def test_no_transactions_when_tracing_is_off(sentry_on: Any) -> None:
    sink = sentry_on()  # TRACES_SAMPLE_RATE defaults to 0: errors only
    assert wsgi_get("/sentry/ok/1/").status == 200
    assert sink.transactions() == []
    assert sentry_sdk.get_client().options["traces_sampler"] is None


def test_w3c_traceparent_continues_the_transaction(sentry_on: Any) -> None:
    sink = sentry_on(TRACES_SAMPLE_RATE=1.0)
    resp = wsgi_get("/sentry/ok/9/", traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01")
    [txn] = sink.transactions()
    trace = txn["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_ID
    # The log line carries the same trace and this service's span.
    assert resp.json() == {"trace_id": TRACE_ID, "span_id": trace["span_id"]}


def test_w3c_traceparent_reaches_error_events_without_tracing(sentry_on: Any, mode: str) -> None:
    sink = _on(sentry_on, mode)
    resp = wsgi_get("/sentry/message/", traceparent=f"00-{TRACE_ID}-{PARENT_ID}-00")
    event = _only(sink.wait_events(1))
    trace = event["contexts"]["trace"]
    assert trace["trace_id"] == TRACE_ID
    assert trace["parent_span_id"] == PARENT_ID
    assert resp.json()["trace_id"] == TRACE_ID
    assert resp.json()["span_id"] == trace["span_id"] != PARENT_ID


def test_sentry_trace_header_wins_over_traceparent(sentry_on: Any) -> None:
    sink = sentry_on(TRACES_SAMPLE_RATE=1.0)
    sentry_trace = "a" * 32 + "-" + "b" * 16 + "-1"
    wsgi_get(
        "/sentry/ok/1/", sentry_trace=sentry_trace, traceparent=f"00-{TRACE_ID}-{PARENT_ID}-01"
    )
    [txn] = sink.transactions()
    assert txn["contexts"]["trace"]["trace_id"] == "a" * 32
