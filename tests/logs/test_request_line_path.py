"""The request line's cheap path writes exactly what the general one would.

The record is made from a per-process template, the JSON is built from the
line's own fields and serialised with orjson: each shortcut is checked here
against the slow, obvious way on the same record.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import os
import random
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import AsyncClient, Client

from opskit.logs import JsonFormatter, RequestIdFilter
from opskit.logs.extension import MESSAGE, RecordMaker, millis
from opskit.logs.formatter import REQUEST_LINE_MARK, _fast_encoder, _orjson_encoder
from tests.forking import in_forked_child

from .conftest import Captured

FIELDS = {
    "request_id": "0123456789abcdef0123456789abcdef",
    "http.request.method": "GET",
    "url.path": "/api/posts/42/",
    "http.route": "api/posts/<int:pk>/",
    "http.response.status_code": 200,
    "duration_ms": 3.42,
}
ARGS = ("GET", "/api/posts/42/", 200, 3.42)
#: The attributes whose values differ from one record to the next.
PER_RECORD = {"created", "msecs", "relativeCreated"}


def made(level: int = logging.INFO, fields: dict[str, Any] | None = None) -> logging.LogRecord:
    maker = RecordMaker(logging.getLogger("opskit.request"))
    return maker.make(level, MESSAGE, ARGS, dict(fields or FIELDS))


def test_record_is_what_the_logging_module_would_make() -> None:
    real = logging.getLogger("opskit.request").makeRecord(
        "opskit.request", logging.WARNING, "", 0, MESSAGE, ARGS, None
    )
    ours = made(logging.WARNING)
    assert type(ours) is logging.LogRecord
    std_keys = list(real.__dict__)
    assert list(ours.__dict__)[: len(std_keys)] == std_keys  # same attributes, same order
    for key in std_keys:
        if key not in PER_RECORD:
            assert ours.__dict__[key] == real.__dict__[key], key
    assert abs(ours.created - real.created) < 1.0
    assert int(ours.msecs) == int((ours.created - int(ours.created)) * 1000) or ours.msecs == 0.0
    assert abs(ours.relativeCreated - real.relativeCreated) < 1000.0
    assert ours.process == os.getpid() and ours.thread == threading.get_ident()
    assert ours.getMessage() == "GET /api/posts/42/ 200 3.4 ms"
    for key, value in FIELDS.items():
        assert getattr(ours, key) == value


def test_thread_and_task_are_the_callers() -> None:
    seen: dict[str, Any] = {}

    def in_thread() -> None:
        rec = made()
        seen["thread"] = (rec.thread, rec.threadName)

    t = threading.Thread(target=in_thread, name="opskit-test-worker")
    t.start()
    t.join()
    assert seen["thread"] == (t.ident, "opskit-test-worker")

    async def in_task() -> logging.LogRecord:
        return made()

    async def main() -> tuple[logging.LogRecord, logging.LogRecord]:
        task = asyncio.get_running_loop().create_task(in_task(), name="opskit-test-task")
        return await task, logging.LogRecord("x", 20, "", 0, "", (), None)

    ours, real = asyncio.run(main())
    # Python 3.12+ records the asyncio task's name; earlier versions have no field.
    assert getattr(ours, "taskName", None) == getattr(real, "taskName", None) or (
        getattr(ours, "taskName", None) == "opskit-test-task"
    )
    if hasattr(real, "taskName"):
        assert ours.taskName == "opskit-test-task"  # type: ignore[attr-defined]


def test_a_forked_child_records_its_own_pid() -> None:
    parent_rec = made()
    pid, data = in_forked_child(lambda: str(made().process).encode())
    child_pid = int(data.decode())
    assert parent_rec.process == os.getpid()
    assert child_pid == pid


@pytest.fixture
def custom_factory() -> Iterator[None]:
    old = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = old(*args, **kwargs)
        rec.tenant = "acme"  # type: ignore[attr-defined]
        return rec

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(old)


@pytest.mark.usefixtures("custom_factory")
def test_a_projects_record_factory_is_still_called(captured: Captured) -> None:
    Client().get("/api/posts/42/")
    line = captured.request()
    assert line["tenant"] == "acme"
    assert line["http.route"] == "api/posts/<int:pk>/" and "message" not in line


class _General(JsonFormatter):
    """Forces the general path (an overridden hook) without changing output."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return log_data


def test_the_direct_path_equals_the_general_path() -> None:
    direct, general = JsonFormatter(), _General()
    assert direct._direct and not general._direct
    for level in (logging.INFO, logging.WARNING, logging.ERROR):
        rec = made(level, {**FIELDS, "user.id": "7", "db.duration_ms": 0.0, "trace_id": None})
        assert direct.format(rec) == general.format(rec)
        data = json.loads(direct.format(rec))
        assert "message" not in data and data["trace_id"] is None


def test_filters_that_change_the_record_are_honoured() -> None:
    rec = made()
    rec.__dict__["url.path"] = "/rewritten/"  # a filter rewriting a value
    assert json.loads(JsonFormatter().format(rec))["url.path"] == "/rewritten/"
    rec.region = "eu"  # type: ignore[attr-defined]  # a filter adding one
    assert json.loads(JsonFormatter().format(rec))["region"] == "eu"
    del rec.__dict__["http.route"], rec.__dict__["region"]  # and removing one
    line = json.loads(JsonFormatter().format(rec))
    assert "http.route" not in line and line["url.path"] == "/rewritten/"


def test_request_message_puts_the_message_in_the_json() -> None:
    rec = made()
    data = json.loads(JsonFormatter(request_message=True).format(rec))
    assert data["message"] == "GET /api/posts/42/ 200 3.4 ms"
    assert json.loads(JsonFormatter().format(rec)).keys() == data.keys() - {"message"}


MESSAGE_RE = re.compile(r"^(GET|POST) /api/a?posts/42/ (200|405) \d+\.\d ms$")


@pytest.mark.parametrize("client_cls", [Client, AsyncClient])
async def test_pytest_and_consoles_show_a_readable_message(
    client_cls: Any, caplog: pytest.LogCaptureFixture, captured: Captured
) -> None:
    caplog.set_level(logging.INFO, logger="opskit.request")
    path = "/api/posts/42/" if client_cls is Client else "/api/aposts/42/"
    resp = client_cls().get(path)
    if asyncio.iscoroutine(resp):
        resp = await resp
    [rec] = [r for r in caplog.records if r.name == "opskit.request"]
    assert MESSAGE_RE.match(rec.getMessage()), rec.getMessage()
    assert rec.getMessage() in caplog.text  # what pytest prints for a failing test
    # A plain text handler (a console) shows it too; the JSON line stays as it was.
    text = logging.Formatter("%(levelname)s %(name)s %(message)s").format(rec)
    assert text.startswith("INFO opskit.request GET /api/")
    assert "message" not in captured.request()
    assert captured.request()["request_id"] == resp["X-Request-ID"]


VALUES: list[Any] = [
    {"a": 1, "b": "x", "c": 0.06, "d": True, "e": [1, (2, 3)], "f": {"g": "h"}},
    {"path": "/caf\u00e9/\u2028", "ctl": "a\r\n\x00\x1f"},
    {"n": None, "s": "null"},
    {"nan": math.nan, "inf": math.inf},
    {"big": 2**70, 3: "int key"},
    {"surrogate": "\udcff"},
    {"obj": object(), "exc": ValueError("x")},
]


@pytest.mark.parametrize("value", VALUES)
def test_orjson_writes_what_the_standard_encoder_writes(value: dict[Any, Any]) -> None:
    plain = JsonFormatter()
    fast = JsonFormatter()
    std = _fast_encoder()
    assert std is not None
    fast_encode = _orjson_encoder()
    assert fast_encode is not None  # orjson is installed in the test environment
    plain._orjson = None
    plain._std_encode = std
    fast._orjson = fast_encode
    a, b = plain.jsonify_log_record(dict(value)), fast.jsonify_log_record(dict(value))
    a.encode("ascii")
    b.encode("ascii")
    assert json.loads(a) == json.loads(b)


def test_the_line_is_no_larger_than_before(captured: Captured) -> None:
    """The message costs no byte of the JSON line (the 390-byte line of 2026-12)."""
    captured.handler.addFilter(RequestIdFilter())
    Client().get("/api/posts/42/", REMOTE_ADDR="203.0.113.9")
    [raw] = [r for r in captured.raw.splitlines() if '"opskit.request"' in r]
    assert len(raw.encode()) < 400, raw
    assert REQUEST_LINE_MARK not in raw and "message" not in raw


def test_stream_output_is_one_line_per_request() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("opskit.request")
    logger.addHandler(handler)
    try:
        for _ in range(3):
            logger.handle(made())
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and all(json.loads(x)["url.path"] == "/api/posts/42/" for x in lines)


@pytest.mark.parametrize(
    "fraction", [0.0, 0.0004, 0.0015, 0.5, 0.123456, 0.9989, 0.99949, 0.9999999]
)
def test_the_time_has_the_milliseconds_of_the_record(fraction: float) -> None:
    """Milliseconds from a table (not ``:03d``): the same text, truncated as before."""
    created = 86_400.0 + fraction  # 1970-01-02T00:00:00, where a float keeps the fraction
    text = JsonFormatter()._time_text(created)
    assert text == f"1970-01-02T00:00:00.{int(fraction * 1000):03d}Z"


def test_millis_gives_what_round_gives() -> None:
    """The request line's milliseconds: ``round(s * 1000, 2)`` without ``round``."""
    rng = random.Random(20261203)
    for _ in range(200_000):
        seconds = 10 ** rng.uniform(-7, 3)
        assert millis(seconds) == round(seconds * 1000.0, 2), seconds
    for seconds in (0.0, -0.0, 1e-12, 0.000_004_999, 0.000_005_001, 1e9, 2e9, -0.5):
        assert millis(seconds) == round(seconds * 1000.0, 2), seconds
    assert math.isnan(millis(math.nan))
