"""The reporter: one per settings load, shared by every scope; counts stay per scope."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from opskit import signals
from opskit.conf import QueriesSettings
from opskit.queries import QueryStats
from opskit.queries.report import QueryReporter, reporter_for
from opskit.queries.stats import ErrorPathStats

SQL = 'SELECT "a"."id" FROM "a" WHERE "a"."id" = %s'


@pytest.fixture
def senders() -> Iterator[list[tuple[str, Any]]]:
    got: list[tuple[str, Any]] = []

    def on_slow(sender: Any, **kwargs: Any) -> None:
        got.append(("slow_query", sender))

    def on_n1(sender: Any, **kwargs: Any) -> None:
        got.append(("n_plus_one", sender))

    signals.slow_query.connect(on_slow, weak=False)
    signals.n_plus_one_detected.connect(on_n1, weak=False)
    yield got
    signals.slow_query.disconnect(on_slow)
    signals.n_plus_one_detected.disconnect(on_n1)


def slow_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "slow_query"]


def test_one_reporter_per_settings_load() -> None:
    default = reporter_for()
    assert reporter_for() is default
    assert default.slow_s == pytest.approx(0.5)
    changed = {"QUERIES": {"SLOW_QUERY_MS": 5, "ALLOW": [" ABC ", ":x", ""], "MAX_FINGERPRINTS": 7}}
    with override_settings(OPSKIT=changed):
        reporter = reporter_for()
        assert reporter is not default and reporter_for() is reporter
        assert reporter.slow_s == pytest.approx(0.005)
        assert reporter.allow_keys == frozenset({"abc"}) and reporter.allow_sites == ("ABC",)
        assert QueryStats().max_fingerprints == 7
    after = reporter_for()
    assert after is not reporter and after.slow_s == pytest.approx(0.5)
    assert QueryStats().max_fingerprints == 256


def test_explicit_settings_get_their_own_shared_reporter() -> None:
    s = QueriesSettings(SLOW_QUERY_MS=None, N_PLUS_ONE_THRESHOLD=3)
    reporter = reporter_for(s)
    assert isinstance(reporter, QueryReporter) and reporter.settings is s
    assert reporter_for(s) is reporter and reporter is not reporter_for()
    assert reporter.slow_s == float("inf")
    stats = QueryStats(settings=s)
    for _ in range(3):
        stats.add(SQL, 10.0, "default")
    assert stats.slow_queries == 0
    assert [e.count for e in stats.repeats()] == [3]


def test_slow_log_limit_is_per_scope(
    senders: list[tuple[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "opskit.queries")
    s = QueriesSettings(SLOW_QUERY_MS=1.0, SLOW_QUERY_LOG_LIMIT=2, N_PLUS_ONE_THRESHOLD=0)
    first, second = QueryStats(settings=s), QueryStats(settings=s)
    for _ in range(3):
        first.add(SQL, 0.002, "default")
    assert first.slow_queries == 3 and len(slow_logs(caplog)) == 2
    second.add(SQL, 0.002, "default")
    assert second.slow_queries == 1 and len(slow_logs(caplog)) == 3
    # Every slow query is signalled, logged or not; the sender is the public class.
    assert senders == [("slow_query", QueryStats)] * 4
    quiet = QueryStats(settings=s, report=False)
    quiet.add(SQL, 0.002, "default")
    assert quiet.slow_queries == 1 and len(slow_logs(caplog)) == 3 and len(senders) == 4


def test_error_path_stats_send_as_query_stats(senders: list[tuple[str, Any]]) -> None:
    s = QueriesSettings(SLOW_QUERY_MS=1.0, N_PLUS_ONE_THRESHOLD=2, SUPPRESS_PAGINATION=False)
    stats = QueryStats(settings=s)
    stats.__class__ = ErrorPathStats
    stats.add(SQL, 0.002, "default")
    stats.add(SQL, 0.002, "default")
    found = stats.close()
    assert [f.count for f in found] == [2] and stats.n_plus_one == 1
    assert senders == [("slow_query", QueryStats)] * 2 + [("n_plus_one", QueryStats)]
    assert stats.close() is found and stats.n_plus_one == 1


def test_gates_and_allow_list_come_from_the_reporter() -> None:
    s = QueriesSettings(N_PLUS_ONE_THRESHOLD=2, N_PLUS_ONE_MIN_MS=5.0, SLOW_QUERY_MS=None)
    stats = QueryStats(settings=s, report=False)
    stats.add(SQL, 0.001, "default")
    stats.add(SQL, 0.001, "default")
    assert stats.patterns() == []  # 2 ms under the 5 ms gate
    [pattern] = stats.patterns(gate=False)
    allowed = QueriesSettings(N_PLUS_ONE_THRESHOLD=2, ALLOW=[pattern.fingerprint.upper()])
    other = QueryStats(settings=allowed, report=False)
    other.add(SQL, 0.001, "default")
    other.add(SQL, 0.001, "default")
    [entry] = other.repeats()
    assert other.is_allowed(entry) and other.patterns(gate=False) == []
