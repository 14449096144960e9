"""When opskit initialises sentry-sdk, and when it leaves it alone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from django.test import Client, override_settings

import opskit.sentry
from opskit.extensions import get_extensions
from opskit.sentry.extension import SentryExtension

from ..support.processes import probe_json
from .conftest import Sink, clear_scopes

pytestmark = pytest.mark.urls("tests.sentry.urls")


@pytest.fixture
def user_init(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sink]:
    """The application called sentry_sdk.init() itself (in settings.py)."""
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(dsn=sink.dsn, integrations=[DjangoIntegration()])
    sink.clear()
    clear_scopes()
    try:
        yield sink
    finally:
        opskit.sentry.shutdown()
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)
        clear_scopes()
        sink.clear()


def _sentry_ext() -> list[Any]:
    return [e for e in get_extensions().extensions if isinstance(e, SentryExtension)]


def test_no_dsn_means_no_sentry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    opskit.sentry.setup()
    assert not opskit.sentry.is_active()
    assert not sentry_sdk.get_client().is_active()
    assert _sentry_ext() == []


def test_dsn_from_environment(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRY_DSN", sink.dsn)
    try:
        with override_settings(OPSKIT={"SENTRY": {"ENVIRONMENT": "staging", "RELEASE": "r42"}}):
            opskit.sentry.setup()
            options = sentry_sdk.get_client().options
            assert options["dsn"] == sink.dsn
            assert options["environment"] == "staging"
            assert options["release"] == "r42"
            assert options["traces_sampler"] is None and options["traces_sample_rate"] is None
            assert len(_sentry_ext()) == 1
    finally:
        opskit.sentry.shutdown()
    assert not sentry_sdk.get_client().is_active()


def test_settings_reach_the_integration(sentry_on: Any) -> None:
    sentry_on(TRACES_SAMPLE_RATE=0.25, SAMPLE_RATE=0.5, INIT_OPTIONS={"max_breadcrumbs": 7})
    from sentry_sdk.integrations.django import DjangoIntegration

    client = sentry_sdk.get_client()
    integration = client.get_integration(DjangoIntegration)
    assert integration is not None
    assert integration.signals_spans is False
    assert integration.middleware_spans is False
    assert integration.cache_spans is False
    assert client.options["sample_rate"] == 0.5
    assert client.options["max_breadcrumbs"] == 7
    assert client.options["traces_sampler"] is opskit.sentry.traces_sampler


def test_setup_is_idempotent(sentry_on: Any) -> None:
    sink = sentry_on()
    opskit.sentry.setup()
    opskit.sentry.setup()
    sentry_sdk.capture_message("once")
    assert len(sink.wait_events(1)) == 1


def test_user_initialised_client_is_kept_and_tagged(user_init: Sink) -> None:
    client = sentry_sdk.get_client()
    with override_settings(OPSKIT={"SENTRY": {"ENVIRONMENT": "ignored"}}):
        opskit.sentry.setup()
        assert sentry_sdk.get_client() is client  # not re-initialised
        assert opskit.sentry.is_active()
        resp = Client(raise_request_exception=False).get("/sentry/boom/4/")
    [event] = user_init.wait_events(1)
    assert event["environment"] == "production"
    assert event["tags"]["request_id"] == resp["X-Request-ID"]
    assert event["tags"]["http.route"] == "sentry/boom/<int:pk>/"


def test_user_initialised_with_opskit_before_send_scrubs(
    sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    sentry_sdk.init(dsn=sink.dsn, before_send=opskit.sentry.before_send)
    sink.clear()
    try:
        opskit.sentry.setup()
        sentry_sdk.capture_message("GET /pay?card_token=tok-SECRET&page=1 failed")
        [event] = sink.wait_events(1)
        assert "tok-SECRET" not in repr(event)
        assert "page=1" in event["message"]
    finally:
        opskit.sentry.shutdown()
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)


def test_init_options_hooks_run_after_opskit_scrubbing(sentry_on: Any) -> None:
    sink = sentry_on(INIT_OPTIONS={"before_send": "tests.sentry.hooks.mark_event"})
    sentry_sdk.capture_message("x?secret=s3cr3t")
    [event] = sink.wait_events(1)
    assert event["tags"]["seen_secret"] == "no"


@pytest.mark.django_db
def test_traces_sampler_setting_keeps_probes_untraced(sentry_on: Any) -> None:
    from tests.asgi import wsgi_get

    sink = sentry_on(TRACES_SAMPLER="tests.sentry.hooks.always")
    for path in ("/healthz", "/sentry/ok/1/"):
        wsgi_get(path)
    assert [t["tags"]["http.route"] for t in sink.transactions()] == ["sentry/ok/<int:pk>/"]


_UNUSED_PROBE = r"""
import asyncio, contextvars, json, sys
import django
from django.core import checks

django.setup()
problems = [m.id for m in checks.run_checks(include_deployment_checks=True)]
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

status = Client().get("/healthz").status_code

async def asgi_get():
    sent, bodies = [], [{"type": "http.request", "body": b"", "more_body": False}]
    async def receive():
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # no disconnect: cancelled after the response
    async def send(message):
        sent.append(message)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": "/healthz", "raw_path": b"/healthz",
             "query_string": b"", "headers": [(b"host", b"testserver")],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    await ASGIHandler()(scope, receive, send)
    return sent[0]["status"]

print(json.dumps({
    "statuses": [status, asyncio.run(asgi_get())],
    "imported": "sentry_sdk" in sys.modules,
    "context_vars": sorted(v.name for v in contextvars.copy_context()),
    "opskit_checks": sorted(p for p in problems if p.startswith("opskit.E6") or p.startswith("opskit.W6")),
}))
"""


def _unused_probe(dsn: str | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("SENTRY_DSN", "PYTHONSTARTUP")}
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    if dsn is not None:
        env["SENTRY_DSN"] = dsn
    return probe_json(_UNUSED_PROBE, [], env, Path(__file__).resolve().parents[2])


def test_without_a_dsn_sentry_sdk_is_never_imported() -> None:
    """No DSN and no ``sentry_sdk.init()``: opskit's ready hooks, its checks and
    requests (WSGI and ASGI) leave sentry-sdk unimported, so its scope context
    variables are not in every request's context (asgiref walks them on each
    ``sync_to_async`` hop)."""
    unused = _unused_probe(None)
    assert unused["statuses"] == [200, 200]
    assert unused["imported"] is False
    assert not [v for v in unused["context_vars"] if "scope" in v or "sentry" in v]
    assert unused["opskit_checks"] == []
    # The same probe sees sentry-sdk when a DSN makes opskit initialise it.
    used = _unused_probe("http://public@127.0.0.1:9/1")
    assert used["statuses"] == [200, 200]
    assert used["imported"] is True
    assert "isolation_scope" in used["context_vars"]
