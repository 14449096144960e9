"""Sentry and the query monitor: N+1 issues at the application's line, no false ones from errors.

Real sentry-sdk sends to the local sink, through Django's real WSGIHandler,
in both errors-only integrations and with tracing (sentry-sdk's
DjangoIntegration wraps the view there).
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.asgi import wsgi_get
from tests.queries.conftest import Recorder, make_library, site_of

# transaction=True: the real WSGIHandler closes the connection between requests.
pytestmark = [pytest.mark.urls("tests.sentry.query_urls"), pytest.mark.django_db(transaction=True)]

VIEWS = Path(__file__).with_name("query_views.py")

MODES: dict[str, dict[str, Any]] = {
    "errors-lean": {"INTEGRATION": "auto"},
    "errors-sdk": {"INTEGRATION": "django"},
    "tracing": {"TRACES_SAMPLE_RATE": 1.0},
}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def on(sentry_on: Any, mode: str) -> Callable[[], Any]:
    def start() -> Any:
        sink = sentry_on(REPORT_N_PLUS_ONE=True, REPORT_INTERVAL=0.0, **MODES[mode])
        from opskit.sentry.state import state

        assert state.tracing is (mode == "tracing")
        return sink

    return start


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    from opskit import extensions

    rec = Recorder()
    real = extensions.get_extensions

    def pipeline() -> extensions.Pipeline:
        return extensions.Pipeline([*real().extensions, rec])

    monkeypatch.setattr("opskit.middleware.get_extensions", pipeline)
    return rec


#: sentry-sdk's event building (not its tracing wrapper around every query).
SENTRY_BUILDING = (f"sentry_sdk{os.sep}serializer.py", f"sentry_sdk{os.sep}client.py")


@pytest.fixture
def executed() -> Iterator[list[str]]:
    """Every statement the database runs (Django's public execute_wrapper).

    Each entry is ``sql params``, with `` [by sentry]`` appended when
    sentry-sdk's event building is on the stack.
    """
    seen: list[str] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        by_sentry = any(
            f.filename.endswith(SENTRY_BUILDING) for f in traceback.extract_stack(limit=80)
        )
        seen.append(f"{sql} {params!r}" + (" [by sentry]" if by_sentry else ""))
        return execute(sql, params, many, ctx)

    with connection.execute_wrapper(wrapper):
        yield seen


def _n_plus_one(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if str(e.get("message", "")).startswith("N+1 queries")]


def _errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if "exception" in e]


def test_n_plus_one_one_event_per_pattern_at_the_application_line(
    on: Callable[[], Any], mode: str
) -> None:
    make_library()
    sink = on()
    site = site_of("n1", VIEWS)
    first = wsgi_get("/q/n1/")
    second = wsgi_get("/q/n1/")
    assert first.status == second.status == 200
    events = _n_plus_one(sink.wait_events(2))
    assert len(events) == 2, [e.get("message") for e in events]
    for event, resp in zip(events, (first, second), strict=True):
        assert event["contexts"]["opskit"]["call_site"] == site
        assert site in event["message"]
        assert "sentry_sdk" not in event["message"]
        assert event["fingerprint"][0] == "opskit.n_plus_one"
        assert event["fingerprint"][-1] == "q/n1/"
        # The request's own trace, not one shared by every request.
        assert event["contexts"]["trace"]["trace_id"] == resp.json()["trace_id"]
        assert event["tags"]["request_id"] == resp.headers["x-request-id"]
    assert events[0]["fingerprint"] == events[1]["fingerprint"]
    assert first.json()["trace_id"] != second.json()["trace_id"]


def test_error_next_to_a_queryset_runs_it_no_extra_time(
    on: Callable[[], Any], executed: list[str], recorder: Recorder
) -> None:
    sink = on()
    resp = wsgi_get("/q/qs-error/")
    assert resp.status == 500
    events = sink.wait_events(1)
    [error] = _errors(events)
    assert error["exception"]["values"][-1]["type"] == "ValueError"
    assert _n_plus_one(events) == []
    # Seven frames hold the unevaluated QuerySet; Sentry ran it none of those
    # times (Django 4.2's admin e-mail handler builds its text, and may).
    assert not [q for q in executed if "Zq" in q and q.endswith("[by sentry]")]
    frames = error["exception"]["values"][-1]["stacktrace"]["frames"]
    shown = [f["vars"]["value"] for f in frames if "value" in f.get("vars", {})]
    assert len(shown) == 7
    # opskit's custom_repr, or the SDK's DjangoIntegration's own QuerySet
    # repr (registered for the whole process once it was set up).
    assert all("not evaluated" in v or v.startswith("<QuerySet from ") for v in shown), shown
    [record] = recorder.records
    assert record.db is not None and record.db.count == 0


def test_queries_while_sentry_builds_the_event_are_not_the_application_s(
    on: Callable[[], Any], executed: list[str], recorder: Recorder
) -> None:
    sink = on()
    resp = wsgi_get("/q/repr-error/")
    assert resp.status == 500
    events = sink.wait_events(1)
    assert len(_errors(events)) == 1
    # sentry-sdk really ran the value's repr() query, once per frame ...
    assert len([q for q in executed if "repr-probe" in q and q.endswith("[by sentry]")]) >= 6
    # ... and none of them is an N+1, or in the request's totals.
    assert _n_plus_one(events) == []
    [record] = recorder.records
    assert record.db is not None and record.db.count == 1  # the view's own exists()
    assert record.db.n_plus_one == 0


def test_custom_repr_never_evaluates(sentry_on: Any, executed: list[str]) -> None:
    import sentry_sdk

    from opskit.sentry import custom_repr
    from tests.testapp.models import Author

    sentry_on()  # the lean errors-only integration: no DjangoIntegration repr
    assert sentry_sdk.get_client().options["custom_repr"] is custom_repr
    lazy = Author.objects.filter(name="Zq-lazy")
    assert custom_repr(lazy) == "<QuerySet of testapp.Author, not evaluated>"
    assert not [q for q in executed if "Zq-lazy" in q]
    evaluated = Author.objects.filter(name="Zq-done")
    list(evaluated)
    assert custom_repr(evaluated) is None  # the SDK's repr shows the cached rows
    assert custom_repr(object()) is None


def test_a_dropped_event_never_leaks_the_pause_into_another_scope(sentry_on: Any) -> None:
    import sentry_sdk

    from opskit import context
    from opskit.queries import monitor
    from tests.testapp.models import Author

    sentry_on()

    def drop(event: dict[str, Any], hint: Any) -> None:
        return None

    with monitor("first") as first:
        with sentry_sdk.new_scope() as scope:
            scope.add_event_processor(drop)
            sentry_sdk.capture_message("dropped after opskit's processor")
        # The pause is still on in this scope (documented) ...
        Author.objects.filter(name="paused").exists()
    assert first.count == 0
    # ... and ends with it: the next scope keeps its own record and counts.
    with monitor("second") as second:
        record = context.current()
        sentry_sdk.capture_message("sent")
        assert context.current() is record
        Author.objects.filter(name="counted").exists()
    assert second.count == 1
