"""Slow requests: decorator (FBV, async FBV), CBV mixin and method_decorator, global threshold."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import AsyncClient, Client, RequestFactory, override_settings

from opskit.slow.extension import SLOW_KEY

from . import views
from .conftest import Recorder

pytestmark = [pytest.mark.urls("tests.queries.urls"), pytest.mark.django_db]


def slow_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "opskit.slow"]


@pytest.mark.parametrize("path", ["/slow/fbv/", "/slow/mixin/", "/slow/decorated/"])
def test_sync_views_report_once(
    path: str, recorder: Recorder, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert Client().get(path + "?ms=30").status_code == 200
    [record] = recorder.records
    [log] = slow_logs(caplog)
    [event] = events["slow_request"]
    assert log.levelno == logging.WARNING
    assert log.route == path.lstrip("/")  # type: ignore[attr-defined]
    assert log.request_id == record.request_id  # type: ignore[attr-defined]
    assert log.threshold_ms == 10  # type: ignore[attr-defined]
    assert log.duration_ms >= 30  # type: ignore[attr-defined]
    assert log.status == 200  # type: ignore[attr-defined]
    assert event["record"] is record and event["threshold"] == 0.010
    assert event["duration"] == record.duration
    assert record.extra[SLOW_KEY] is True


def test_query_summary_in_the_warning(recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    Client().get("/slow/fbv/?ms=20")
    [log] = slow_logs(caplog)
    db = log.db  # type: ignore[attr-defined]
    assert db["count"] == 2 and db["n_plus_one"] == 0
    assert db["slowest"]["alias"] == "default"
    assert "2 queries" in log.getMessage()


@pytest.mark.parametrize("path", ["/slow/afbv/", "/slow/amixin/"])
async def test_async_views_report_once(
    path: str, recorder: Recorder, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await AsyncClient().get(path + "?ms=30")).status_code == 200
    [record] = recorder.records
    [log] = slow_logs(caplog)
    assert log.route == path.lstrip("/")  # type: ignore[attr-defined]
    assert log.request_id == record.request_id  # type: ignore[attr-defined]
    assert len(events["slow_request"]) == 1


def test_fast_request_is_not_reported(events: Any, caplog: pytest.LogCaptureFixture) -> None:
    Client().get("/slow/lenient/?ms=20")  # its own threshold: 60 s
    Client().get("/slow/plain/?ms=0")  # the global one: 1000 ms
    assert slow_logs(caplog) == [] and events["slow_request"] == []


@override_settings(OPSKIT={"SLOW_REQUESTS": {"THRESHOLD_MS": 10}})
def test_global_threshold(events: Any, caplog: pytest.LogCaptureFixture) -> None:
    Client().get("/slow/plain/?ms=30")
    [log] = slow_logs(caplog)
    assert log.route == "slow/plain/" and log.threshold_ms == 10  # type: ignore[attr-defined]
    # The view's own threshold wins over the global one, in both directions.
    Client().get("/slow/lenient/?ms=30")
    assert len(slow_logs(caplog)) == 1
    Client().get("/slow/fbv/?ms=30")
    assert len(slow_logs(caplog)) == 2 and len(events["slow_request"]) == 2


@override_settings(OPSKIT={"SLOW_REQUESTS": {"THRESHOLD_MS": None}})
def test_global_off_decorator_still_works(caplog: pytest.LogCaptureFixture) -> None:
    Client().get("/slow/plain/?ms=30")
    assert slow_logs(caplog) == []
    Client().get("/slow/fbv/?ms=30")
    assert len(slow_logs(caplog)) == 1


@override_settings(OPSKIT={"SLOW_REQUESTS": {"ENABLED": False}})
def test_disabled(events: Any) -> None:
    Client().get("/slow/fbv/?ms=30")
    views.slow_fbv(RequestFactory().get("/x/?ms=30"))
    assert events["slow_request"] == []


@override_settings(MIDDLEWARE=[])
def test_without_middleware_the_decorator_times_the_view(
    events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    Client().get("/slow/fbv/?ms=30")
    [log] = slow_logs(caplog)
    assert log.route == "slow/fbv/" and log.request_id is None  # type: ignore[attr-defined]
    assert log.duration_ms >= 30  # type: ignore[attr-defined]
    [event] = events["slow_request"]
    assert event["record"] is None and event["duration"] >= 0.03


@override_settings(MIDDLEWARE=[])
async def test_without_middleware_async_views(caplog: pytest.LogCaptureFixture) -> None:
    await AsyncClient().get("/slow/afbv/?ms=30")
    await AsyncClient().get("/slow/amixin/?ms=30")
    assert [r.route for r in slow_logs(caplog)] == ["slow/afbv/", "slow/amixin/"]  # type: ignore[attr-defined]


@override_settings(MIDDLEWARE=[])
def test_without_middleware_cbv_and_default_threshold(caplog: pytest.LogCaptureFixture) -> None:
    Client().get("/slow/mixin/?ms=30")
    Client().get("/slow/decorated/?ms=30")
    Client().get("/slow/default/?ms=30")  # global 1000 ms: not slow
    assert [r.route for r in slow_logs(caplog)] == ["slow/mixin/", "slow/decorated/"]  # type: ignore[attr-defined]


def test_view_exception_is_reraised_and_still_timed(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ZeroDivisionError):
        views.slow_failing_fbv(RequestFactory().get("/x/?ms=20"))
    assert len(slow_logs(caplog)) == 1
    client = Client(raise_request_exception=False)
    assert client.get("/slow/failing/?ms=20").status_code == 500
    assert len(slow_logs(caplog)) == 2
    assert slow_logs(caplog)[-1].status == 500  # type: ignore[attr-defined]


def test_log_slow_requests_is_a_deprecated_alias() -> None:
    import opskit.slow

    with pytest.warns(DeprecationWarning, match=r"opskit\.slow\.log_slow_requests.*slow_request"):
        alias = opskit.slow.log_slow_requests
    assert alias is opskit.slow.slow_request
    assert "log_slow_requests" not in opskit.slow.__all__


def test_slow_request_signal_is_a_deprecated_alias() -> None:
    import warnings

    from opskit import signals

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from opskit.signals import slow_request_detected  # the new name warns nothing
    with pytest.warns(DeprecationWarning, match=r"signals\.slow_request is deprecated"):
        old = signals.slow_request
    assert old is slow_request_detected
    with pytest.raises(AttributeError):
        signals.no_such_signal  # noqa: B018
