"""One test per system check id of the request log (opskit.E1xx / W1xx)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from opskit.logs.checks import check_logging


def ids(**logging_settings: Any) -> list[str]:
    with override_settings(OPSKIT={"LOGGING": logging_settings}):
        return [m.id for m in check_logging()]  # type: ignore[misc]


def test_defaults_are_clean() -> None:
    assert ids() == []


def test_registered_with_django() -> None:
    with override_settings(OPSKIT={"LOGGING": {"SAMPLE_RATE": 2.0}}):
        found = [m.id for m in checks.run_checks(tags=["opskit"])]
    assert "opskit.E102" in found


def test_e101_empty_logger() -> None:
    assert ids(LOGGER=" ") == ["opskit.E101"]


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_e102_sample_rate(rate: float) -> None:
    assert ids(SAMPLE_RATE=rate) == ["opskit.E102"]


def test_e103_lengths() -> None:
    assert ids(MAX_PATH_LENGTH=0, MAX_HEADER_LENGTH=8) == ["opskit.E103", "opskit.E103"]


@pytest.fixture
def lonely_logger() -> Iterator[logging.Logger]:
    """A logger with exactly the handlers the test gives it (pytest may add its own)."""
    logger = logging.getLogger("tests.logs.nowhere")
    saved = list(logger.handlers)
    logger.handlers[:] = []
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.handlers[:] = saved
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_w101_logger_writes_nowhere(lonely_logger: logging.Logger) -> None:
    lonely_logger.handlers[:] = []  # pytest attaches capture handlers per phase
    assert ids(LOGGER=lonely_logger.name) == ["opskit.W101"]  # no handler at all
    lonely_logger.propagate = True
    lonely_logger.setLevel(logging.ERROR)
    assert ids(LOGGER=lonely_logger.name) == ["opskit.W101"]  # level above INFO
    lonely_logger.setLevel(logging.INFO)
    lonely_logger.propagate = False
    handler = logging.NullHandler()
    lonely_logger.handlers[:] = [handler]
    handler.setLevel(logging.WARNING)  # a handler that drops the INFO request lines
    assert ids(LOGGER=lonely_logger.name) == ["opskit.W101"]
    handler.setLevel(logging.NOTSET)
    assert ids(LOGGER=lonely_logger.name) == []


def test_w102_credential_header_removed_from_deny_list() -> None:
    assert ids(REDACT_HEADERS=["x-api-key"]) == ["opskit.W102"]
    assert (
        ids(REDACT_HEADERS=["Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"]) == []
    )


def test_w103_skip_path_without_slash() -> None:
    assert ids(SKIP_PATHS=["livez", "/readyz"]) == ["opskit.W103"]


def test_disabled_logging_is_not_checked() -> None:
    assert ids(ENABLED=False, SAMPLE_RATE=9.0) == []


def test_w104_stdlib_rotating_handler(tmp_path: Any) -> None:
    from logging.handlers import RotatingFileHandler, WatchedFileHandler

    from concurrent_log_handler import ConcurrentRotatingFileHandler

    from opskit.logs.checks import check_rotating_handlers

    logger = logging.getLogger("tests.logs.rotating")
    assert [m.id for m in check_rotating_handlers()] == []
    safe = [
        ConcurrentRotatingFileHandler(str(tmp_path / "a.log"), maxBytes=1024),
        WatchedFileHandler(str(tmp_path / "b.log"), delay=True),
    ]
    unsafe = RotatingFileHandler(str(tmp_path / "c.log"), maxBytes=1024, delay=True)
    try:
        logger.handlers[:] = safe
        assert [m.id for m in check_rotating_handlers()] == []
        logger.addHandler(unsafe)
        [msg] = check_rotating_handlers()
        assert msg.id == "opskit.W104" and "c.log" in msg.msg
        # A deploy check: `manage.py check --deploy` runs it, plain `check` does not.
        assert "opskit.W104" in [m.id for m in checks.run_checks(include_deployment_checks=True)]
        assert "opskit.W104" not in [m.id for m in checks.run_checks()]
    finally:
        for h in logger.handlers:
            h.close()
        logger.handlers[:] = []
