"""When opskit initialises sentry-sdk, and when it leaves it alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from django.test import Client, override_settings

import opskit.sentry
from opskit.extensions import get_extensions
from opskit.sentry.extension import SentryExtension

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
