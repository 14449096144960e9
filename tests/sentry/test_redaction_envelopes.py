"""Secrets in 20 query parameter names and in Referer never reach Sentry.

Real sentry-sdk, real envelopes to the in-process sink: the error event, its
breadcrumbs (a log message and an outgoing HTTP call carrying the same query)
and, with tracing, the transaction and its spans.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path

from tests.asgi import asgi_get, wsgi_get
from tests.logs.test_redaction import secret_query

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]

QUERY, VALUES = secret_query("sentry")
REFERER_QUERY, REFERER_VALUES = secret_query("referer")
OUTGOING_QUERY, OUTGOING_VALUES = secret_query("outgoing")
SINK_BASE: dict[str, str] = {}


def leak(request: HttpRequest) -> HttpResponse:
    """Touch every place a URL travels to Sentry, then fail."""
    logging.getLogger("tests.leak").warning("calling /upstream?%s", OUTGOING_QUERY)
    try:
        urllib.request.urlopen(f"{SINK_BASE['url']}/upstream?{OUTGOING_QUERY}", timeout=5)
    except urllib.error.HTTPError:
        pass  # the sink answers GET with 501: the breadcrumb is what matters
    url = request.get_full_path()
    raise RuntimeError(f"could not serve {url}")


urlpatterns = [path("leak/", leak)]


def _raw(sink: Any) -> str:
    with sink.lock:
        return json.dumps([[header, body] for header, body in sink.items], default=repr)


@pytest.mark.parametrize(
    ("mode", "tracing", "pii"),
    [("auto", 0.0, False), ("auto", 0.0, True), ("django", 1.0, False), ("django", 1.0, True)],
)
@pytest.mark.parametrize("server", ["wsgi", "asgi"])
async def test_zero_secret_values_in_envelopes(
    sentry_on: Any, mode: str, tracing: float, pii: bool, server: str
) -> None:
    sink = sentry_on(INTEGRATION=mode, TRACES_SAMPLE_RATE=tracing, SEND_DEFAULT_PII=pii)
    SINK_BASE["url"] = sink.dsn.replace("public@", "").rsplit("/", 1)[0]
    referer = f"https://shop.example/cart?{REFERER_QUERY}#access_token=fragSECRETx1"
    headers = {"referer": referer, "x_amz_credential": "AKIAHEADERSECRET"}
    if server == "wsgi":
        resp = wsgi_get(f"/leak/?{QUERY}", **headers)
    else:
        resp = await asgi_get(f"/leak/?{QUERY}", **headers)
    assert resp.status == 500
    events = sink.wait_events(1)
    assert len(events) == 1
    if tracing:
        assert sink.transactions(), "tracing on: the transaction was sent too"
    raw = _raw(sink)
    for value in [*VALUES, *REFERER_VALUES, *OUTGOING_VALUES, "fragSECRETx1", "HEADERSECRET"]:
        assert value not in raw, value
    event = events[0]
    request = event["request"]
    # Names kept, values replaced; the allow-listed "page" keeps its value.
    assert request["query_string"].startswith("pwd=[Filtered]&pass=[Filtered]")
    assert request["query_string"].endswith("&page=3")
    headers_sent = {k.lower(): v for k, v in request["headers"].items()}
    assert headers_sent["referer"].startswith("https://shop.example/cart?pwd=[Filtered]&")
    crumbs = event["breadcrumbs"]["values"]
    http = [c for c in crumbs if c.get("category") == "httplib"]
    assert http and http[-1]["data"]["http.query"].endswith("&page=3")
    assert any("/upstream?pwd=[Filtered]" in (c.get("message") or "") for c in crumbs)
