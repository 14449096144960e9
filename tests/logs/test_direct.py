"""The request line's direct write: taken only where it writes what the general path would.

``json_logging()``'s handler (a ``StreamHandler`` with ``JsonFormatter`` and
``RequestIdFilter``) gets the line without ``logger.handle``; anything that
could see or change a record (another handler, a filter, a patched
``logging`` method, a record factory) gets it the general way.  Both are
checked here against each other, on real handlers and real requests.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from opskit.logs import JsonFormatter, RequestIdFilter, direct
from opskit.logs.direct import plain_handlers, write_direct
from opskit.logs.extension import MESSAGE, RecordMaker

from .test_request_line_path import FIELDS

#: The standard library's, taken at collection: sentry-sdk's logging
#: integration patches ``Logger.callHandlers`` for the rest of the process
#: once a test has initialised it.
STDLIB_CALL_HANDLERS = logging.Logger.callHandlers


def json_handler(stream: Any = None) -> logging.StreamHandler[Any]:
    """The handler ``json_logging()`` configures, on a stream of our own."""
    h = logging.StreamHandler(stream if stream is not None else io.StringIO())
    h.setFormatter(JsonFormatter())
    h.addFilter(RequestIdFilter())
    return h


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.StreamHandler[Any]]:
    """``opskit.request`` as json_logging() leaves it, without pytest's capture.

    pytest attaches its capture handler to every non-propagating logger when
    the test body starts, so the handlers are set again by :func:`only`.
    """
    assert STDLIB_CALL_HANDLERS.__module__ == "logging"
    monkeypatch.setattr(logging.Logger, "callHandlers", STDLIB_CALL_HANDLERS)
    logger = logging.getLogger("opskit.request")
    saved = (logger.handlers[:], logger.propagate, logger.level, logger.filters[:])
    h = json_handler()
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield h
    finally:
        logger.handlers[:], logger.propagate, _, logger.filters[:] = saved
        logger.setLevel(saved[2])


def only(*handlers: logging.Handler) -> logging.Logger:
    logger = logging.getLogger("opskit.request")
    logger.handlers[:] = list(handlers)
    return logger


def lines(h: logging.StreamHandler[Any]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in h.stream.getvalue().splitlines()]


@pytest.fixture
def makes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records the request line made (the general path makes one)."""
    calls: list[int] = []
    real = RecordMaker.make

    def make(self: RecordMaker, *args: Any) -> logging.LogRecord:
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(RecordMaker, "make", make)
    return calls


def test_json_loggings_handler_is_written_directly(
    plain: logging.StreamHandler[Any], makes: list[int]
) -> None:
    only(plain)
    response = Client().get("/api/posts/42/", REMOTE_ADDR="203.0.113.9")
    [line] = lines(plain)
    assert makes == []  # no LogRecord: the direct path
    assert line["request_id"] == response["X-Request-ID"]
    assert line["http.route"] == "api/posts/<int:pk>/" and line["level"] == "INFO"
    assert line["logger"] == "opskit.request" and "message" not in line


def test_the_direct_line_is_the_general_line(monkeypatch: pytest.MonkeyPatch) -> None:
    logger = logging.getLogger("opskit.request")
    for level in (logging.INFO, logging.WARNING, logging.ERROR):
        fields = {**FIELDS, "user.id": "7", "db.duration_ms": 0.0, "trace_id": None}
        rec = RecordMaker(logger).make(level, MESSAGE, ("GET", "/", 200, 1.0), dict(fields))
        monkeypatch.setattr(direct.time, "time", lambda rec=rec: rec.created)
        general, straight = json_handler(), json_handler()
        general.handle(rec)
        assert write_direct([straight], logger.name, level, dict(fields)) == []
        assert straight.stream.getvalue() == general.stream.getvalue()
        assert straight.stream.getvalue().count("\n") == 1


@pytest.mark.parametrize(
    "change",
    [
        "caplog-like handler",
        "handler subclass",
        "logger filter",
        "other handler filter",
        "datefmt",
        "other formatter",
        "formatter option",
        "patched callHandlers",
        "record factory",
        "no handler",
        "unopened file",
    ],
)
def test_anything_else_takes_the_general_path(
    change: str,
    plain: logging.StreamHandler[Any],
    makes: list[int],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    logger = only(plain)
    seen: list[logging.LogRecord] = []
    if change == "caplog-like handler":

        class Capture(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                seen.append(record)

        logger.addHandler(Capture())
    elif change == "handler subclass":

        class Mine(logging.StreamHandler):  # type: ignore[type-arg]
            pass

        logger.handlers[:] = [Mine(plain.stream)]
        logger.handlers[0].setFormatter(JsonFormatter())
    elif change == "logger filter":
        logger.addFilter(lambda r: seen.append(r) or True)
    elif change == "other handler filter":
        plain.addFilter(lambda r: seen.append(r) or True)
    elif change == "datefmt":
        plain.setFormatter(JsonFormatter(datefmt="%H:%M:%S"))
    elif change == "other formatter":
        plain.setFormatter(logging.Formatter("%(message)s"))
    elif change == "formatter option":
        plain.setFormatter(JsonFormatter(static_fields={"service": "blog"}))
    elif change == "patched callHandlers":  # as sentry-sdk's logging integration does
        real = logging.Logger.callHandlers

        def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
            seen.append(record)
            real(self, record)

        monkeypatch.setattr(logging.Logger, "callHandlers", call_handlers)
    elif change == "record factory":
        real_factory = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            rec = real_factory(*args, **kwargs)
            seen.append(rec)
            return rec

        logging.setLogRecordFactory(factory)
    elif change == "no handler":
        logger.handlers[:] = []
    elif change == "unopened file":
        fh = logging.FileHandler(tmp_path / "app.log", delay=True)
        fh.setFormatter(JsonFormatter())
        logger.handlers[:] = [fh]
    try:
        assert plain_handlers(logger, logging.INFO) is None
        Client().get("/api/posts/42/")
    finally:
        if change == "record factory":
            logging.setLogRecordFactory(real_factory)
        for h in logger.handlers:
            if isinstance(h, logging.FileHandler):
                h.close()
    assert makes == [1]  # one record, handed to logger.handle
    if change in (
        "caplog-like handler",
        "logger filter",
        "other handler filter",
        "patched callHandlers",
        "record factory",
    ):
        assert [r.name for r in seen].count("opskit.request") == 1
    if change == "unopened file":
        [line] = (tmp_path / "app.log").read_text().splitlines()
        assert json.loads(line)["http.route"] == "api/posts/<int:pk>/"


def test_handler_levels_and_propagation_are_those_of_callhandlers(
    plain: logging.StreamHandler[Any],
) -> None:
    logger = only(plain)
    root = logging.getLogger()
    assert plain_handlers(logger, logging.INFO) == [plain]
    plain.setLevel(logging.WARNING)  # a handler above the line's level is skipped
    assert plain_handlers(logger, logging.INFO) is None  # nothing left: general path
    assert plain_handlers(logger, logging.WARNING) == [plain]
    plain.setLevel(logging.NOTSET)
    logger.propagate = True  # root's handlers (pytest's capture) now count
    assert plain_handlers(logger, logging.INFO) is None
    parent = logging.getLogger("opskit")  # the test settings give it a NullHandler
    saved = root.handlers[:], parent.handlers[:]
    second = json_handler()
    root.handlers[:], parent.handlers[:] = [second], []
    try:
        assert plain_handlers(logger, logging.INFO) == [plain, second]
    finally:
        root.handlers[:], parent.handlers[:] = saved


def test_an_open_file_handler_is_written_directly(
    plain: logging.StreamHandler[Any], tmp_path: Path, makes: list[int]
) -> None:
    logger = logging.getLogger("opskit.request")
    fh = logging.FileHandler(tmp_path / "app.log")
    fh.setFormatter(JsonFormatter())
    saved = logger.handlers[:], logger.propagate
    only(fh).propagate = False
    try:
        Client().get("/api/posts/42/")
        Client().get("/api/posts/43/")
    finally:
        (logger.handlers[:], logger.propagate) = saved
        fh.close()
    assert makes == []
    paths = [json.loads(x)["url.path"] for x in (tmp_path / "app.log").read_text().splitlines()]
    assert paths == ["/api/posts/42/", "/api/posts/43/"]


def test_a_failing_stream_reports_through_handle_error(
    plain: logging.StreamHandler[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError("disk full")

    only(plain)
    plain.setStream(Broken())
    reported: list[logging.LogRecord] = []
    monkeypatch.setattr(plain, "handleError", reported.append)  # the instance, not the class
    response = Client().get("/api/posts/42/")
    assert response.status_code == 200  # the request is not hurt
    [rec] = reported  # what emit would have done: handleError with the record
    assert rec.getMessage().startswith("GET /api/posts/42/ 200 ")
    assert rec.__dict__["request_id"] == response["X-Request-ID"]


def test_threads_write_whole_lines(plain: logging.StreamHandler[Any]) -> None:
    only(plain)

    def worker() -> None:
        c = Client()
        for i in range(40):
            c.get(f"/api/posts/{i}/")

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = lines(plain)  # every line parses
    assert len(got) == 240
    assert len({x["request_id"] for x in got}) == 240
