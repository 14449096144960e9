"""One test per system check id (opskit.E6xx / W6xx)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from django.core import checks
from django.test import override_settings

import opskit.sentry
from opskit.checks import check_settings
from opskit.sentry.checks import check_sentry

from .conftest import Sink

GOOD_DSN = "https://public@o1.ingest.example.com/42"


def ids(**sentry: Any) -> list[str]:
    with override_settings(OPSKIT={"SENTRY": sentry}):
        return [m.id for m in check_sentry()]


@pytest.fixture(autouse=True)
def _no_env_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)


def test_clean_configuration_has_no_messages() -> None:
    assert ids() == []
    assert ids(DSN=GOOD_DSN, TRACES_SAMPLE_RATE=0.1) == []


def test_registered_with_django() -> None:
    with override_settings(OPSKIT={"SENTRY": {"DSN": "nonsense"}}):
        assert "opskit.E602" in [m.id for m in checks.run_checks()]


def test_e601_dsn_without_sentry_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # as if not installed
    assert ids() == []
    assert ids(DSN=GOOD_DSN) == ["opskit.E601"]
    monkeypatch.setenv("SENTRY_DSN", GOOD_DSN)
    [message] = [m for m in check_sentry()]
    assert message.id == "opskit.E601" and "opskit[sentry]" in str(message.hint)


def test_setup_is_a_no_op_without_sentry_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)
    with override_settings(OPSKIT={"SENTRY": {"DSN": GOOD_DSN}}):
        opskit.sentry.setup()
    assert not opskit.sentry.is_active()


def test_e602_malformed_dsn() -> None:
    assert ids(DSN="not a dsn") == ["opskit.E602"]
    assert ids(DSN="https://o1.ingest.example.com/42") == ["opskit.E602"]  # no key


def test_e603_rates_and_init_options() -> None:
    assert ids(TRACES_SAMPLE_RATE=1.5) == ["opskit.E603"]
    assert ids(SAMPLE_RATE=-0.1) == ["opskit.E603"]
    with override_settings(OPSKIT={"SENTRY": {"INIT_OPTIONS": ["debug"]}}):
        # The typed settings refuse it (and keep the default dict).
        assert [m.id for m in check_settings() if "INIT_OPTIONS" in m.msg] == ["opskit.E002"]
        assert check_sentry() == []
    with override_settings(OPSKIT={"SENTRY": {"INTEGRATION": "lean"}}):
        assert [m.id for m in check_settings()] == ["opskit.E603"]


def test_e604_traces_sampler() -> None:
    assert ids(TRACES_SAMPLER="tests.sentry.hooks.nope") == ["opskit.E604"]
    assert ids(TRACES_SAMPLER="tests.sentry.conftest.GOOD") == ["opskit.E604"]
    assert ids(TRACES_SAMPLER="tests.sentry.test_checks.GOOD_DSN") == ["opskit.E604"]
    assert ids(TRACES_SAMPLER="tests.sentry.hooks.always") == []


def test_w602_report_without_source() -> None:
    with override_settings(
        OPSKIT={
            "QUERIES": {"ENABLED": False},
            "SLOW_REQUESTS": {"ENABLED": False},
            "SENTRY": {"REPORT_N_PLUS_ONE": True, "REPORT_SLOW_REQUESTS": True},
        }
    ):
        assert [m.id for m in check_sentry()] == ["opskit.W602", "opskit.W602"]
    assert ids(REPORT_N_PLUS_ONE=True, REPORT_SLOW_REQUESTS=True) == []


@pytest.fixture
def foreign_client(sink: Sink) -> Iterator[None]:
    sentry_sdk.init(dsn=sink.dsn)
    try:
        yield
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)


def test_w601_user_init_without_opskit_scrubbing(foreign_client: None) -> None:
    assert ids() == ["opskit.W601"]
    sentry_sdk.get_client().options["before_send"] = opskit.sentry.before_send
    assert ids() == []


def test_w603_two_dsns(foreign_client: None) -> None:
    sentry_sdk.get_client().options["before_send"] = opskit.sentry.before_send
    assert ids(DSN=GOOD_DSN) == ["opskit.W603"]
    assert ids(DSN=sentry_sdk.get_client().options["dsn"]) == []


def test_opskit_initialised_client_is_not_foreign(sentry_on: Any) -> None:
    sentry_on()
    assert [m.id for m in check_sentry()] == []
