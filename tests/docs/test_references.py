"""The metric and log-field references list exactly what opskit emits."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any

import pytest
from django.test import Client

from opskit.logs import JsonFormatter, RequestIdFilter

from .util import DOCS, exported_families, exported_metrics

METRIC_ROW_RE = re.compile(
    r"^\| `([a-z_:]+)` \| (counter|gauge|histogram|summary) \| (.+?) \| (.+) \|$"
)
FIELD_ROW_RE = re.compile(
    r"^\| `([a-z_.<>]+)` \| (string|integer|number|boolean) \| (.+?) \| (.+) \|$"
)


def _rows(page: str, row_re: re.Pattern[str]) -> dict[str, tuple[str, ...]]:
    rows: dict[str, tuple[str, ...]] = {}
    for line in (DOCS / page).read_text().splitlines():
        if m := row_re.match(line):
            name, *rest = m.groups()
            assert name not in rows, f"{page}: {name} is documented twice"
            rows[name] = tuple(rest)
    return rows


def test_metric_reference_lists_every_exported_metric_with_its_type() -> None:
    rows = _rows("metric-reference.md", METRIC_ROW_RE)
    exported = exported_metrics()
    missing = sorted(exported.keys() - rows.keys())
    extra = sorted(rows.keys() - exported.keys())
    assert not missing, f"docs/metric-reference.md lacks: {missing}"
    assert not extra, f"docs/metric-reference.md documents metrics opskit does not export: {extra}"
    wrong = {n: (rows[n][0], t) for n, t in exported.items() if rows[n][0] != t}
    assert not wrong, f"documented type != exported type: {wrong}"


def test_metric_reference_gives_the_real_labels() -> None:
    rows = _rows("metric-reference.md", METRIC_ROW_RE)
    wrong = {}
    for name, (_, labels) in exported_families().items():
        cell = rows[name][1]
        documented = tuple(re.findall(r"`([a-z_]+)`", cell))
        if cell.strip() == "—":
            documented = ()
        if documented != labels:
            wrong[name] = (documented, labels)
    assert not wrong, f"labels documented != labels exported (in order): {wrong}"


HEADER_FIELD = "http.request.header.<name>"


@pytest.fixture
def request_lines(settings: Any, django_user_model: Any) -> list[dict[str, Any]]:
    """The JSON request lines of a real request that fills every optional field, and an error."""
    settings.ROOT_URLCONF = "tests.docs.urls"
    settings.OPSKIT = {
        **settings.OPSKIT,
        "LOGGING": {"LOG_QUERY_STRING": True, "LOG_USER_AGENT": True, "LOG_HEADERS": ["x-tenant"]},
    }
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("opskit.request")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        client = Client(raise_request_exception=False)
        client.force_login(django_user_model.objects.create_user("docs-reader"))
        response = client.get(
            "/docs/probe/7/?page=2&token=s3cret",
            HTTP_X_REQUEST_ID="docs-request-0001",
            HTTP_TRACEPARENT="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            HTTP_USER_AGENT="docs-test/1.0",
            HTTP_X_TENANT="acme",
        )
        assert response.status_code == 200
        assert client.get("/docs/boom/").status_code == 500
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2, lines
    assert lines[0]["request_id"] == "docs-request-0001"
    assert "s3cret" not in stream.getvalue()
    return lines


def _field_names(lines: list[dict[str, Any]]) -> set[str]:
    names = set().union(*(line.keys() for line in lines))
    return {HEADER_FIELD if n.startswith("http.request.header.") else n for n in names}


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["log-fields.md", "logging.md"])
def test_log_field_tables_match_a_real_request_line(
    page: str, request_lines: list[dict[str, Any]]
) -> None:
    rows = _rows(page, FIELD_ROW_RE)
    written = _field_names(request_lines)
    missing = sorted(written - rows.keys())
    extra = sorted(rows.keys() - written)
    assert not missing, f"docs/{page}: fields the request line has but the table lacks: {missing}"
    assert not extra, f"docs/{page}: fields documented but never written: {extra}"
    for name, (kind, present, meaning) in rows.items():
        assert present.strip() and len(meaning) > 10, name
        values = [
            line[n] for line in request_lines for n in line if _field_names([{n: 0}]) == {name}
        ]
        expected = {"string": str, "integer": int, "number": (int, float), "boolean": bool}[kind]
        assert all(isinstance(v, expected) for v in values), (page, name, values)
