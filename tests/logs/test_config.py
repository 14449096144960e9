"""json_logging / rotating_file_logging / merge_logging, applied with dictConfig for real."""

from __future__ import annotations

import copy
import io
import json
import logging
import logging.config
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from opskit.logs import json_logging, merge_logging, rotating_file_logging
from opskit.logs.servers import ACCESS_LOGGERS, ERROR_LOGGERS

STREAM = io.StringIO()  # target of "ext://tests.logs.test_config.STREAM"

TOUCHED = [
    "",
    "django",
    "django.request",
    "opskit.request",
    "myapp",
    *ACCESS_LOGGERS,
    *ERROR_LOGGERS,
]


@pytest.fixture
def apply() -> Iterator[Any]:
    """dictConfig a dict for the test, then put every touched logger back."""
    saved = {}
    for name in TOUCHED:
        lg = logging.getLogger(name or None)
        saved[name] = (list(lg.handlers), lg.level, lg.propagate, lg.disabled, list(lg.filters))
    STREAM.seek(0)
    STREAM.truncate()

    def do(config: dict[str, Any]) -> None:
        logging.config.dictConfig(config)

    try:
        yield do
    finally:
        for name, (handlers, level, propagate, disabled, filters) in saved.items():
            lg = logging.getLogger(name or None)
            for h in lg.handlers:
                if h not in handlers:
                    h.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
            lg.filters[:] = filters


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_json_logging_end_to_end(apply: Any) -> None:
    apply(json_logging("WARNING", stream="ext://tests.logs.test_config.STREAM"))
    client = Client(raise_request_exception=False)
    ok = client.get("/api/posts/9/")
    client.get("/nope/")
    bad = client.get("/boom/")
    out = lines(STREAM.getvalue())
    # Root at WARNING: the view's INFO line is dropped, its WARNING kept; the
    # request line is INFO whatever the root level.
    assert [(e["logger"], e["level"]) for e in out] == [
        ("tests.logs.user", "WARNING"),
        ("opskit.request", "INFO"),
        ("opskit.request", "WARNING"),  # the 404: no second django.request line
        ("django.request", "ERROR"),  # the traceback, once
        ("opskit.request", "ERROR"),
    ]
    assert out[0]["request_id"] == out[1]["request_id"] == ok["X-Request-ID"]
    assert out[3]["request_id"] == out[4]["request_id"] == bad["X-Request-ID"]
    assert "ZeroDivisionError" in out[3]["exc_info"]


def test_json_logging_composes_with_existing(apply: Any) -> None:
    existing = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(request_id)s %(name)s %(message)s"}},
        "handlers": {
            "mine": {
                "class": "logging.StreamHandler",
                "stream": "ext://tests.logs.test_config.STREAM",
                "formatter": "plain",
            }
        },
        "loggers": {"myapp": {"handlers": ["mine"], "level": "INFO", "propagate": False}},
        "root": {"handlers": [], "level": "ERROR"},
    }
    before = copy.deepcopy(existing)
    config = json_logging(stream="ext://tests.logs.test_config.STREAM", existing=existing)
    assert existing == before  # not modified
    assert config["root"]["level"] == "ERROR"  # the project's levels win
    assert config["handlers"]["mine"]["filters"] == ["opskit_request_id"]
    apply(config)
    logging.getLogger("myapp").info("plain line")  # outside a request
    resp = Client().get("/api/posts/2/")
    text = STREAM.getvalue().splitlines()
    assert text[0] == "None myapp plain line"
    request_lines = [json.loads(t) for t in text[1:]]
    assert [e["logger"] for e in request_lines] == ["opskit.request"]
    assert request_lines[0]["request_id"] == resp["X-Request-ID"]


def test_merge_logging_unions_handlers() -> None:
    a = {
        "version": 1,
        "handlers": {"h1": {"class": "logging.NullHandler"}},
        "loggers": {"x": {"handlers": ["h1"], "level": "DEBUG"}},
        "root": {"handlers": ["h1"], "level": "WARNING"},
    }
    b = json_logging()
    merged = merge_logging(a, b)
    assert merged["root"] == {"handlers": ["h1", "opskit_stdout"], "level": "WARNING"}
    assert merged["loggers"]["x"] == {"handlers": ["h1"], "level": "DEBUG"}
    assert merged["loggers"]["opskit.request"]["level"] == "INFO"
    assert merged["handlers"]["h1"]["filters"] == ["opskit_request_id"]
    assert merge_logging(merged, b) == merged  # idempotent
    untouched = merge_logging(a, b, filter_all_handlers=False)
    assert "filters" not in untouched["handlers"]["h1"]
    assert merge_logging(None, b)["handlers"] == b["handlers"]


def test_rotating_file_logging(apply: Any, tmp_path: Path) -> None:
    config = rotating_file_logging(tmp_path, max_bytes=4096, backup_count=2)
    assert config["handlers"]["opskit_app_file"]["delay"] is True
    assert not list(tmp_path.iterdir())  # nothing opened by building the dict
    apply(config)
    client = Client(raise_request_exception=False)
    for _ in range(30):
        client.get("/api/posts/1/")
    bad = client.get("/boom/")
    for h in logging.getLogger().handlers:
        h.flush()
    app = tmp_path / "app.log"
    assert (tmp_path / "app.log.1").exists()  # rotated at 4 KB
    errors = lines((tmp_path / "error.log").read_text())
    assert {e["level"] for e in errors} == {"ERROR"}
    assert {e["request_id"] for e in errors} == {bad["X-Request-ID"]}
    assert [e["logger"] for e in errors] == ["django.request", "opskit.request"]
    assert lines(app.read_text())[-1]["http.response.status_code"] == 500


def test_watched_file_variant(apply: Any, tmp_path: Path) -> None:
    config = rotating_file_logging(tmp_path, handler_class="logging.handlers.WatchedFileHandler")
    assert "maxBytes" not in config["handlers"]["opskit_app_file"]
    apply(config)
    Client().get("/api/posts/1/")
    for h in logging.getLogger().handlers:
        h.flush()
    [line] = [
        e for e in lines((tmp_path / "app.log").read_text()) if e["logger"] == "opskit.request"
    ]
    assert line["http.route"] == "api/posts/<int:pk>/"
