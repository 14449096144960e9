"""The metric and log-field references list exactly what opskit emits."""

from __future__ import annotations

import re

from .util import DOCS, exported_families, exported_metrics

METRIC_ROW_RE = re.compile(
    r"^\| `([a-z_:]+)` \| (counter|gauge|histogram|summary) \| (.+?) \| (.+) \|$"
)
FIELD_ROW_RE = re.compile(
    r"^\| `([a-z_.]+)` \| (string|integer|number|boolean) \| (.+?) \| (.+) \|$"
)

#: The request line's fields as issue 3 names them (plus the formatter's
#: ``time``, ``level`` and ``logger``), until the logging capability is merged
#: and a real request line replaces this list.
ISSUE3_FIELDS = {
    "time",
    "level",
    "logger",
    "request_id",
    "http.request.method",
    "url.path",
    "http.route",
    "view",
    "http.response.status_code",
    "duration_ms",
    "http.response.body.size",
    "user.id",
    "client.address",
    "error.type",
    "db.query_count",
    "db.duration_ms",
    "trace_id",
    "span_id",
    "url.query",
}


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


def test_log_field_reference_lists_every_field() -> None:
    rows = _rows("log-fields.md", FIELD_ROW_RE)
    missing = sorted(ISSUE3_FIELDS - rows.keys())
    extra = sorted(rows.keys() - ISSUE3_FIELDS)
    assert not missing, f"docs/log-fields.md lacks: {missing}"
    assert not extra, f"docs/log-fields.md documents fields the request line never has: {extra}"
    for name, (_, present, meaning) in rows.items():
        assert present.strip() and len(meaning) > 10, name
