"""Capture log output the way production writes it: a real handler, a real stream."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from opskit.logs import JsonFormatter, RequestIdFilter


@pytest.fixture(autouse=True)
def _logs_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.logs.urls"


class Captured:
    """Everything the JSON handler wrote, raw and parsed."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(JsonFormatter())
        self.handler.addFilter(RequestIdFilter())

    @property
    def raw(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed; fails the test if one is not a JSON object."""
        out = []
        for line in self.raw.splitlines():
            data = json.loads(line)
            assert isinstance(data, dict), line
            out.append(data)
        return out

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == "opskit.request"]

    def request(self) -> dict[str, Any]:
        [line] = self.requests()
        return line

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def captured() -> Iterator[Captured]:
    cap = Captured()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(cap.handler)
    root.setLevel(logging.INFO)
    try:
        yield cap
    finally:
        root.removeHandler(cap.handler)
        root.setLevel(old_level)
