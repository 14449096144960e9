"""A broken receiver never silences the others, nor raises into the request."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.dispatch import Signal

from opskit import signals


def _broken(**kwargs: Any) -> None:
    raise RuntimeError("receiver bug")


def test_send_reaches_every_receiver_and_logs_the_broken_one_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal()
    got: list[dict[str, Any]] = []

    def good(sender: Any, **kwargs: Any) -> None:
        got.append(kwargs)

    signal.connect(_broken, weak=False)
    signal.connect(good, weak=False)
    with caplog.at_level(logging.WARNING):
        signals.send(signal, object, record=None, value=3)
    assert got == [{"signal": signal, "record": None, "value": 3}]
    [line] = [r for r in caplog.records if r.exc_info]
    assert line.name == "django.dispatch" and line.levelno == logging.ERROR
    assert "_broken" in line.getMessage()
    assert isinstance(line.exc_info and line.exc_info[1], RuntimeError)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signal",
    [signals.slow_request_detected, signals.slow_query],
    ids=["slow_request", "slow_query"],
)
def test_a_broken_receiver_does_not_silence_the_next_one(settings: Any, signal: Signal) -> None:
    """Like a project's ``@receiver`` (models.py) connected before metrics and Sentry."""
    from django.test import Client

    settings.OPSKIT = {
        "SLOW_REQUESTS": {"THRESHOLD_MS": 0.001},
        "QUERIES": {"SLOW_QUERY_MS": 0.0001},
    }
    later: list[float] = []

    def counting(sender: Any, duration: float, **kwargs: Any) -> None:
        later.append(duration)

    signal.connect(_broken, weak=False)
    signal.connect(counting, weak=False)
    try:
        assert Client().get("/db-query/").status_code == 200
    finally:
        signal.disconnect(_broken)
        signal.disconnect(counting)
    assert later and all(d >= 0 for d in later)
