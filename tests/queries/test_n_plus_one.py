"""N+1 detection: six repeat patterns found once with the right call site; quiet cases silent."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from opskit.queries import monitor

from .conftest import Recorder, site_of

pytestmark = [
    pytest.mark.urls("tests.queries.urls"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("library"),
]

PATTERNS = {
    # name: expected count (8 books, 6 authors, 20 gets)
    "fk": 8,
    "m2m": 8,
    "count": 6,
    "deferred": 8,
    "prefetch_filter": 6,
    "get": 20,
}
QUIET = ["select_related", "prefetch_related", "single", "three", "unused_select_related", "keyset"]


def n1_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "n_plus_one"]


@pytest.mark.parametrize("name", list(PATTERNS))
def test_pattern_reported_once_with_call_site(
    name: str, recorder: Recorder, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "opskit.queries")
    resp = Client().get(f"/n1/{name}/")
    assert resp.status_code == 200
    [event] = events["n_plus_one"]
    assert event["count"] == PATTERNS[name]
    assert event["call_site"] == site_of(name)
    assert event["alias"] == "default"
    assert event["duration"] > 0
    assert "?" in event["sql"] and event["sql"].startswith("SELECT")
    [record] = recorder.records
    assert event["record"] is record
    assert record.db is not None and record.db.n_plus_one == 1
    [log] = n1_logs(caplog)
    assert log.levelno == logging.WARNING and log.name == "opskit.queries"
    assert log.fingerprint == event["fingerprint"]  # type: ignore[attr-defined]
    assert log.request_id == record.request_id  # type: ignore[attr-defined]
    assert log.route == f"n1/{name}/"  # type: ignore[attr-defined]
    assert log.call_site == site_of(name)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", QUIET)
def test_quiet_case_not_reported(
    name: str, recorder: Recorder, events: Any, caplog: pytest.LogCaptureFixture
) -> None:
    resp = Client().get(f"/quiet/{name}/")
    assert resp.status_code == 200
    assert events["n_plus_one"] == []
    assert n1_logs(caplog) == []
    [record] = recorder.records
    assert record.db is not None and record.db.count >= 1 and record.db.n_plus_one == 0


def test_keyset_loop_repeats_but_is_pagination(recorder: Recorder, events: Any) -> None:
    Client().get("/quiet/keyset/")
    stats = recorder.records[0].db
    [entry] = stats.repeats()  # type: ignore[union-attr]
    assert entry.count == 5 and entry.fp.pagination
    with override_settings(OPSKIT={"QUERIES": {"SUPPRESS_PAGINATION": False}}):
        Client().get("/quiet/keyset/")
    [event] = events["n_plus_one"]
    assert event["count"] == 5


def test_threshold_setting(events: Any) -> None:
    with override_settings(OPSKIT={"QUERIES": {"N_PLUS_ONE_THRESHOLD": 3}}):
        Client().get("/quiet/three/")
    [event] = events["n_plus_one"]
    assert event["count"] == 3
    with override_settings(OPSKIT={"QUERIES": {"N_PLUS_ONE_THRESHOLD": 0}}):
        Client().get("/n1/get/")
    assert len(events["n_plus_one"]) == 1


def test_allow_by_call_site_and_by_fingerprint(recorder: Recorder, events: Any) -> None:
    line = site_of("get").split(" in ")[0]
    with override_settings(OPSKIT={"QUERIES": {"ALLOW": [line]}}):
        Client().get("/n1/get/")
    with override_settings(OPSKIT={"QUERIES": {"ALLOW": ["queries/views.py"]}}):
        Client().get("/n1/fk/")
    with override_settings(OPSKIT={"QUERIES": {"ALLOW": ["views.py:1"]}}):
        Client().get("/n1/count/")  # wrong line: still reported
    assert [e["call_site"] for e in events["n_plus_one"]] == [site_of("count")]
    key = events["n_plus_one"][0]["fingerprint"]
    with override_settings(OPSKIT={"QUERIES": {"ALLOW": [key]}}):
        Client().get("/n1/count/")
    assert len(events["n_plus_one"]) == 1
    assert recorder.records[-1].db.n_plus_one == 0  # type: ignore[union-attr]


def test_production_gate(events: Any) -> None:
    with override_settings(OPSKIT={"QUERIES": {"N_PLUS_ONE_MIN_MS": 60_000}}):
        Client().get("/n1/get/")
    assert events["n_plus_one"] == []
    with override_settings(OPSKIT={"QUERIES": {"N_PLUS_ONE_MIN_SHARE": 1.0}}):
        Client().get("/n1/get/")  # the first() query is part of the DB time
    assert events["n_plus_one"] == []
    with override_settings(OPSKIT={"QUERIES": {"N_PLUS_ONE_MIN_SHARE": 0.5}}):
        Client().get("/n1/get/")
    assert len(events["n_plus_one"]) == 1


def test_monitor_reports_like_a_request(events: Any, caplog: pytest.LogCaptureFixture) -> None:
    from .views import same_get

    with monitor("nightly") as stats:
        same_get(None)  # type: ignore[arg-type]
    assert stats.count == 21 and stats.n_plus_one == 1
    [event] = events["n_plus_one"]
    assert event["call_site"] == site_of("get")
    assert event["record"].view == "nightly"
    [log] = n1_logs(caplog)
    assert log.request_id == event["record"].request_id  # type: ignore[attr-defined]


def test_monitor_inside_request_does_not_double_report(events: Any) -> None:
    from .views import same_get

    with monitor("outer") as outer:
        with monitor("inner") as inner:
            same_get(None)  # type: ignore[arg-type]
        assert inner.count == 21 and inner.n_plus_one == 0
    assert outer.count == 21 and outer.n_plus_one == 1
    assert len(events["n_plus_one"]) == 1
