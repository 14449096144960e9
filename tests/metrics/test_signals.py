"""The other capabilities' signals feed the metrics, bounded and safely."""

from __future__ import annotations

from typing import Any

from django.test import Client
from prometheus_client import CollectorRegistry

from opskit import signals
from opskit.context import RequestRecord
from opskit.metrics.definitions import MAX_SCOPES, OTHER

from .conftest import scrape, total


def test_ratelimit_decisions_by_scope_and_outcome(fresh: Any) -> None:
    for outcome in ("allowed", "allowed", "limited", "error", "shadow", "weird"):
        signals.ratelimit_decided.send(None, scope="login", outcome=outcome, record=None)
    s = scrape()
    name = "opskit_ratelimit_decisions_total"
    assert total(s, name, scope="login", outcome="allowed") == 2
    assert total(s, name, scope="login", outcome="limited") == 1
    assert total(s, name, scope="login", outcome="error") == 1
    assert total(s, name, scope="login", outcome="shadow") == 1
    assert total(s, name, scope="login", outcome=OTHER) == 1


def test_ratelimit_scopes_are_capped(fresh: Any) -> None:
    for i in range(MAX_SCOPES + 20):
        signals.ratelimit_decided.send(None, scope=f"s{i}", outcome="allowed", record=None)
    s = scrape()
    scopes = {x.labels["scope"] for x in s if x.name == "opskit_ratelimit_decisions_total"}
    assert len(scopes) == MAX_SCOPES + 1 and OTHER in scopes
    assert total(s, "opskit_ratelimit_decisions_total", scope=OTHER) == 20


def test_health_check_status_and_duration(fresh: Any) -> None:
    signals.health_checked.send(
        None, check="db", status="pass", duration=0.004, critical=True, record=None
    )
    signals.health_checked.send(
        None, check="redis", status="warn", duration=0.2, critical=False, record=None
    )
    signals.health_checked.send(None, check="disk", status="fail", duration=0.001)
    signals.health_checked.send(None, check="db", status="fail", duration=0.9)  # latest wins
    s = scrape()
    assert total(s, "opskit_health_check_status", check="db") == 0.0
    assert total(s, "opskit_health_check_status", check="redis") == 0.5
    assert total(s, "opskit_health_check_status", check="disk") == 0.0
    assert total(s, "opskit_health_check_duration_seconds", check="db") == 0.9
    signals.health_checked.send(None, check="db", status="pass", duration=0.003)
    assert total(scrape(), "opskit_health_check_status", check="db") == 1.0


def test_slow_queries_and_n_plus_one_by_alias(fresh: Any) -> None:
    for alias in ("default", "default", "other"):
        signals.slow_query.send(
            None, alias=alias, duration=0.7, fingerprint="ab", sql="SELECT 1", call_site="x.py:1"
        )
    signals.n_plus_one_detected.send(
        None, alias="other", fingerprint="cd", count=7, duration=0.01, sql="", call_site=""
    )
    s = scrape()
    assert total(s, "opskit_db_slow_queries_total", alias="default") == 2
    assert total(s, "opskit_db_slow_queries_total", alias="other") == 1
    assert total(s, "opskit_db_n_plus_one_total", alias="other") == 1
    assert total(s, "opskit_db_n_plus_one_total", alias="default") == 0


def test_slow_requests_by_route(fresh: Any) -> None:
    record = RequestRecord("r" * 32, "GET", "/m/sync/1/")
    record.route = "m/sync/<int:pk>/"
    signals.slow_request_detected.send(None, threshold=0.5, duration=0.8, record=record)
    signals.slow_request_detected.send(None, threshold=0.5, duration=0.8, record=None)
    s = scrape()
    assert total(s, "opskit_slow_requests_total", http_route="m/sync/<int:pk>/") == 1
    assert total(s, "opskit_slow_requests_total", http_route="<unmatched>") == 1


def test_bad_signal_arguments_never_raise_into_the_sender(fresh: Any) -> None:
    # Missing or odd arguments are folded or dropped, never raised.
    signals.ratelimit_decided.send(None)
    signals.health_checked.send(None, check=None, status=None, duration="slow")
    signals.slow_query.send(None, alias=None)
    signals.n_plus_one_detected.send(None, alias=object())
    signals.slow_request_detected.send(None, record="not a record")
    s = scrape()
    assert total(s, "opskit_ratelimit_decisions_total", scope=OTHER, outcome=OTHER) == 1
    assert total(s, "opskit_health_check_status", check=OTHER) == 0.0
    assert total(s, "opskit_db_slow_queries_total", alias="default") == 1


#: One registry that survives the settings changes of the test below.
KEPT = CollectorRegistry()


def test_signals_are_ignored_when_metrics_are_disabled(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.metrics.urls"
    enabled = {**settings.OPSKIT, "METRICS": {"REGISTRY": "tests.metrics.test_signals.KEPT"}}
    settings.OPSKIT = enabled
    signals.ratelimit_decided.send(None, scope="login", outcome="allowed", record=None)
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {"ENABLED": False}}
    signals.ratelimit_decided.send(None, scope="login", outcome="allowed", record=None)
    assert Client().get("/metrics").status_code == 404
    settings.OPSKIT = enabled
    assert total(scrape(), "opskit_ratelimit_decisions_total", scope="login") == 1
