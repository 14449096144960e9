"""pytest's captured log shows the request line's readable message."""

from __future__ import annotations

import logging

import pytest
from django.test import Client


def test_caplog_shows_method_path_status(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="opskit.request"):
        Client().get("/api/posts/5/")
        Client(raise_request_exception=False).get("/nope/")
    text = caplog.text
    assert "GET /api/posts/5/ 200" in text
    assert "GET /nope/ 404" in text
    ok, missing = [r for r in caplog.records if r.name == "opskit.request"]
    assert ok.getMessage().startswith("GET /api/posts/5/ 200 ")
    assert ok.getMessage().endswith(" ms")
    assert missing.levelname == "WARNING"
