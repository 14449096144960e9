"""The servers' own loggers under json_logging(): access lines silenced (or kept), errors in JSON.

Each server's logging is set up as the server itself does it (gunicorn's
``Logger``, uvicorn's ``LOGGING_CONFIG``), then the project's ``LOGGING`` is
applied over it, as happens in a worker that loads Django.  The real
servers are in ``tests/rehearsal/test_8_logging.py``.
"""

from __future__ import annotations

import json
import logging
import logging.config
from typing import Any

from django.test import Client

from opskit.logs import json_logging

# The test_config fixture puts every logger the config touches (the servers'
# ones included) back after each test.
from .test_config import STREAM, apply  # noqa: F401

TARGET = "ext://tests.logs.test_config.STREAM"


def records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in STREAM.getvalue().splitlines()]


def runserver_access(status: int) -> None:
    """What runserver logs per request (``BaseHTTPRequestHandler.log_request``)."""
    level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
    logging.getLogger("django.server").log(
        level,
        '"%s" %s %s',
        "GET /x/ HTTP/1.1",
        str(status),
        "12",
        extra={"status_code": status, "server_time": "now"},
    )


def gunicorn_setup() -> None:
    """gunicorn's own logging, as its master sets it up before Django loads."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    cfg = Config()
    cfg.set("accesslog", "-")
    Logger(cfg)


def uvicorn_setup() -> None:
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)


def test_runserver_access_lines_dropped_errors_kept(apply: Any) -> None:  # noqa: F811
    apply(json_logging(stream=TARGET))
    for status in (200, 404, 500):
        runserver_access(status)
    logging.getLogger("django.server").error("You're accessing the development server over HTTPS")
    assert [(r["logger"], r["level"], r["message"]) for r in records()] == [
        ("django.server", "ERROR", "You're accessing the development server over HTTPS")
    ]


def test_runserver_request_logged_once(apply: Any) -> None:  # noqa: F811
    apply(json_logging(stream=TARGET))
    resp = Client().get("/api/posts/3/")
    runserver_access(200)  # what runserver would add after the response
    lines = [(r["logger"], r["request_id"]) for r in records()]
    assert ("opskit.request", resp["X-Request-ID"]) in lines
    assert not [r for r in records() if r["logger"] == "django.server"]


def test_gunicorn_access_silenced_error_in_json(apply: Any, capsys: Any) -> None:  # noqa: F811
    gunicorn_setup()
    apply(json_logging(stream=TARGET))
    access = logging.getLogger("gunicorn.access")
    assert not access.isEnabledFor(logging.INFO)  # no record is even built
    access.info('127.0.0.1 - - "GET /x/ HTTP/1.1" 200 2')
    logging.getLogger("gunicorn.error").error("Error handling request /x/")
    assert [(r["logger"], r["message"]) for r in records()] == [
        ("gunicorn.error", "Error handling request /x/")
    ]
    out, err = capsys.readouterr()
    assert "GET /x/" not in out + err and "Error handling" not in err


def test_uvicorn_access_silenced_error_in_json(apply: Any, capsys: Any) -> None:  # noqa: F811
    uvicorn_setup()
    assert logging.getLogger("uvicorn.access").hasHandlers()
    apply(json_logging(stream=TARGET))
    # uvicorn's protocols check this once per connection and skip the line.
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "\x1b[36m42\x1b[0m"}
    )
    [line] = records()
    assert line["logger"] == "uvicorn.error" and line["message"] == "Started server process [42]"
    assert "color_message" not in line  # ANSI codes repeating the message
    assert capsys.readouterr().err == ""


def test_server_access_logs_switch_keeps_them_as_json(apply: Any) -> None:  # noqa: F811
    gunicorn_setup()
    uvicorn_setup()
    apply(json_logging(stream=TARGET, server_access_logs=True))
    runserver_access(404)
    logging.getLogger("gunicorn.access").info('"GET /g/ HTTP/1.1" 200')
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/u/", "1.1", 200
    )
    assert [(r["logger"], r["level"]) for r in records()] == [
        ("django.server", "WARNING"),
        ("gunicorn.access", "INFO"),
        ("uvicorn.access", "INFO"),
    ]
    assert records()[2]["message"] == '127.0.0.1:5 - "GET /u/ HTTP/1.1" 200'


def test_existing_config_of_a_server_logger_is_kept(apply: Any) -> None:  # noqa: F811
    """A project that configured ``gunicorn.error`` itself keeps its handlers and level."""
    existing = {
        "version": 1,
        "handlers": {"mine": {"class": "logging.StreamHandler", "stream": TARGET}},
        "loggers": {"gunicorn.error": {"handlers": ["mine"], "level": "WARNING"}},
    }
    config = json_logging(stream=TARGET, existing=existing)
    assert config["loggers"]["gunicorn.error"]["level"] == "WARNING"
    assert config["loggers"]["gunicorn.error"]["handlers"] == ["mine"]
