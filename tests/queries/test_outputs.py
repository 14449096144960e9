"""Slow-query warnings, Server-Timing, and the system checks."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from opskit.queries.checks import check_queries_settings
from opskit.slow.checks import check_slow_settings

from .conftest import Recorder, pg_alias, site_of

pytestmark = pytest.mark.urls("tests.queries.urls")


@pytest.mark.postgres
@pytest.mark.django_db(databases=["default", "other"])
def test_slow_query_warning(
    recorder: Recorder, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    alias = pg_alias()
    with override_settings(OPSKIT={"QUERIES": {"SLOW_QUERY_MS": 20}}):
        Client().get(f"/sleep-query/?alias={alias}&ms=30")
    [record] = recorder.records
    logs = [r for r in caplog.records if getattr(r, "event", None) == "slow_query"]
    [log] = logs
    assert log.name == "opskit.queries" and log.levelno == logging.WARNING
    assert log.alias == alias and log.duration_ms >= 30  # type: ignore[attr-defined]
    assert log.call_site == site_of("sleep")  # type: ignore[attr-defined]
    assert log.sql == "SELECT pg_sleep(?)"  # type: ignore[attr-defined]
    assert log.request_id == record.request_id and log.route == "sleep-query/"  # type: ignore[attr-defined]
    [event] = events["slow_query"]
    assert event["fingerprint"] == log.fingerprint and event["record"] is record  # type: ignore[attr-defined]
    assert record.db is not None and record.db.slow_queries == 1


@pytest.mark.django_db
def test_slow_query_log_limit(
    recorder: Recorder, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(OPSKIT={"QUERIES": {"SLOW_QUERY_MS": 0, "SLOW_QUERY_LOG_LIMIT": 2}}):
        Client().get("/count/?n=5")
    logs = [r for r in caplog.records if getattr(r, "event", None) == "slow_query"]
    assert len(logs) == 2
    assert len(events["slow_query"]) == 5
    assert recorder.records[0].db.slow_queries == 5  # type: ignore[union-attr]


@pytest.mark.django_db
def test_server_timing_only_for_trusted_clients() -> None:
    assert "Server-Timing" not in Client().get("/count/?n=2")
    with override_settings(OPSKIT={"QUERIES": {"SERVER_TIMING": True}}):
        value = Client().get("/count/?n=2")["Server-Timing"]
        assert value.startswith("db;dur=") and 'desc="2 queries", app;dur=' in value
        assert "Server-Timing" not in Client(REMOTE_ADDR="203.0.113.9").get("/count/?n=2")
    with override_settings(
        OPSKIT={"QUERIES": {"SERVER_TIMING": True, "SERVER_TIMING_IPS": ["10.0.0.0/8"]}}
    ):
        assert "Server-Timing" not in Client().get("/count/?n=2")
        assert "Server-Timing" in Client(REMOTE_ADDR="10.1.2.3").get("/count/?n=1")


def test_server_timing_appends_to_an_existing_header() -> None:
    from django.http import HttpResponse

    from opskit.context import RequestRecord
    from opskit.queries.extension import QueriesExtension

    with override_settings(OPSKIT={"QUERIES": {"SERVER_TIMING": True}}):
        ext = QueriesExtension()
        record = RequestRecord("r" * 16)
        record.client_address, record.client_proven = "::1", True
        response = HttpResponse()
        response["Server-Timing"] = "cache;dur=1"
        ext.process_response(record, None, response)  # type: ignore[arg-type]
    assert response["Server-Timing"].startswith(
        'cache;dur=1, db;dur=0.0;desc="0 queries", app;dur='
    )


def _ids(result: list[Any]) -> list[str]:
    return [m.id for m in result]


@pytest.mark.parametrize(
    ("queries", "expected"),
    [
        ({"SERVER_TIMING_IPS": ["nope"]}, "opskit.E401"),
        ({"N_PLUS_ONE_THRESHOLD": 1}, "opskit.E402"),
        ({"N_PLUS_ONE_THRESHOLD": -3}, "opskit.E402"),
        ({"MAX_FINGERPRINTS": 0}, "opskit.E403"),
        ({"FINGERPRINT_CACHE_SIZE": 0}, "opskit.E403"),
        ({"SLOW_QUERY_MS": -1}, "opskit.E404"),
        ({"N_PLUS_ONE_MIN_SHARE": 1.5}, "opskit.E404"),
        ({"SERVER_TIMING": True, "SERVER_TIMING_IPS": ["0.0.0.0/0"]}, "opskit.W401"),
        ({"ALLOW": [" "]}, "opskit.W402"),
    ],
)
def test_queries_checks(queries: dict[str, Any], expected: str) -> None:
    with override_settings(OPSKIT={"QUERIES": queries}):
        assert _ids(check_queries_settings()) == [expected]


@pytest.mark.parametrize(
    ("slow", "expected"),
    [
        ({"THRESHOLD_MS": 0}, "opskit.E451"),
        ({"THRESHOLD_MS": 5}, "opskit.W451"),
        ({"LOGGER": " "}, "opskit.E452"),
    ],
)
def test_slow_checks(slow: dict[str, Any], expected: str) -> None:
    with override_settings(OPSKIT={"SLOW_REQUESTS": slow}):
        assert _ids(check_slow_settings()) == [expected]


def test_defaults_pass_the_checks() -> None:
    assert check_queries_settings() == [] and check_slow_settings() == []
    with override_settings(OPSKIT={"QUERIES": {"ALLOW": ["0123456789abcdef", "app/views.py:12"]}}):
        assert check_queries_settings() == []
