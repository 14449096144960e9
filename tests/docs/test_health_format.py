"""docs/health-format.md describes the body the health endpoints really send."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from .util import DOCS

FIELD_RE = re.compile(r"^\| `([A-Za-z]+)`(?: \(per check\))?(?:, `([A-Za-z]+)`)? \| (.+) \|$")


def _documented_fields() -> set[str]:
    """Field names in the table of the "Detailed body" section."""
    text = (DOCS / "health-format.md").read_text()
    section = text.split("## Detailed body", 1)[1].split("\n## ", 1)[0]
    fields: set[str] = set()
    for line in section.splitlines():
        if m := FIELD_RE.match(line):
            fields |= {f for f in m.groups()[:2] if f}
    return fields


@pytest.fixture
def probe(settings: Any) -> Client:
    settings.ROOT_URLCONF = "tests.docs.urls"
    settings.OPSKIT = {
        **settings.OPSKIT,
        "HEALTH": {
            "DETAILS": "when-authorized",
            "TOKEN": "docs-health-token-0123456789",
            "CHECKS": [
                "memory",
                {"check": "tests.docs.urls.failing_check", "name": "docs", "critical": False},
            ],
        },
    }
    return Client()


def test_public_body_is_the_status_alone(probe: Client) -> None:
    response = probe.get("/readyz?verbose")
    assert response.status_code == 200  # a non-critical failure warns
    assert response["Content-Type"] == "application/health+json"
    assert response["Cache-Control"] == "no-store"
    assert json.loads(response.content) == {"status": "warn"}
    assert "docs dependency" not in response.content.decode()


def test_detailed_body_has_exactly_the_documented_fields(probe: Client) -> None:
    response = probe.get(
        "/readyz?verbose", HTTP_AUTHORIZATION="Bearer docs-health-token-0123456789"
    )
    body = json.loads(response.content)
    assert set(body) == {"status", "checks"}
    seen: set[str] = set()
    for key, entries in body["checks"].items():
        name, _, measurement = key.rpartition(":")
        assert measurement in {"responseTime", "utilization", "pending"}, key
        (entry,) = entries
        assert entry["componentId"] == name
        seen |= set(entry)
    documented = _documented_fields() - {"checks"}
    assert seen == documented, f"sent {sorted(seen)}, documented {sorted(documented)}"
    failing = body["checks"]["docs:responseTime"][0]
    assert failing["status"] == "fail" and failing["critical"] is False
    assert "ConnectionError" in failing["output"]


def test_live_probe_does_no_io_and_passes(probe: Client) -> None:
    response = probe.get("/livez")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "pass"}
