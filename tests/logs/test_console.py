"""json_logging(format="console"): one readable line per record, the JSON line's fields."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from opskit.logs import JsonFormatter, RequestIdFilter, json_logging
from opskit.logs.console import ConsoleFormatter, wants_colors

from .test_config import apply  # noqa: F401 - the fixture

STREAM = io.StringIO()  # target of "ext://tests.logs.test_console.STREAM"
TARGET = "ext://tests.logs.test_console.STREAM"


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_handler(apply: Any) -> Iterator[Any]:  # noqa: F811
    """dictConfig for the test; every logger it touches is put back after."""
    STREAM.seek(0)
    STREAM.truncate()
    yield apply


def record(
    msg: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any
) -> logging.LogRecord:
    rec = logging.LogRecord("myapp", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_stays_the_default() -> None:
    config = json_logging()
    assert config["formatters"]["opskit_json"] == {"()": "opskit.logs.JsonFormatter"}
    with pytest.raises(ValueError, match="console"):
        json_logging(format="xml")  # type: ignore[arg-type]


def test_request_line_in_console_format(root_handler: Any) -> None:
    root_handler(json_logging(stream=TARGET, format="console"))
    resp = Client().get("/api/posts/7/?page=2")
    [line] = [ln for ln in STREAM.getvalue().splitlines() if " opskit.request " in ln]
    assert "\x1b[" not in line  # a StringIO is no terminal
    time, level, logger = line.split()[:3]
    assert len(time) == 12 and time[2] == ":" and time[8] == "."  # HH:MM:SS.mmm
    assert (level, logger) == ("INFO", "opskit.request")
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    assert fields["request_id"] == resp["X-Request-ID"]
    assert fields["http.route"] == "api/posts/<int:pk>/"
    assert fields["http.response.status_code"] == "200"
    assert float(fields["duration_ms"]) >= 0


def test_same_fields_as_json() -> None:
    extra = {
        "user": "a b",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "items": [1, 2],
    }
    data = json.loads(JsonFormatter().format(record(**extra)))
    line = ConsoleFormatter(colors=False).format(record(**extra))
    assert line.split(" ", 1)[1].startswith("WARNING myapp hello world ")
    for key in data:
        if key not in ("time", "level", "logger", "message"):
            assert f" {key}=" in line, key
    assert ' user="a b"' in line and " count=3" in line and " flag=true" in line
    assert " nothing=null" in line and " items=[1,2]" in line


def test_one_line_per_record_and_traceback_after() -> None:
    fmt = ConsoleFormatter(colors=False)
    line = fmt.format(record("two\nlines \x1b[31mred", (), path="/a\r\n\x1b[2Jb"))
    assert "\n" not in line and "\x1b" not in line  # no line break, no terminal escape
    assert "two\\nlines \\x1b[31mred" in line and 'path="/a\\r\\n\\u001b[2Jb"' in line
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        rec = logging.LogRecord("myapp", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    first, *rest = fmt.format(rec).splitlines()
    assert first.endswith("myapp failed")
    assert rest[0] == "Traceback (most recent call last):" and "ZeroDivisionError" in rest[-1]


def test_colors_on_a_terminal_or_when_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert wants_colors(TTY()) and not wants_colors(io.StringIO())
    assert wants_colors(io.StringIO(), colors=True) and not wants_colors(TTY(), colors=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert wants_colors(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_colors(TTY())
    line = ConsoleFormatter(colors=True).format(record())
    assert "\x1b[33mWARNING" in line and line.endswith("\x1b[0m")


def test_console_handler_colours_when_its_stream_is_a_tty(
    root_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    tty = TTY()
    monkeypatch.setattr(sys.modules[__name__], "STREAM", tty)
    root_handler(json_logging("WARNING", stream=TARGET, format="console"))
    logging.getLogger("myapp").warning("coloured")
    assert "\x1b[33mWARNING" in tty.getvalue()
    root_handler(json_logging("WARNING", stream=TARGET, format="console", colors=False))
    logging.getLogger("myapp").warning("plain")
    assert tty.getvalue().splitlines()[-1].split(" ", 1)[1].startswith("WARNING myapp plain")


def test_request_id_filter_applies() -> None:
    fmt = ConsoleFormatter(colors=False)
    rec = record()
    RequestIdFilter(default="-").filter(rec)
    assert fmt.format(rec).endswith(" request_id=-")
