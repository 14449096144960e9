"""Helpers shared by the documentation tests: where things are, how to read them."""

from __future__ import annotations

import doctest
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
OPS = DOCS / "ops"

FENCE_RE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)


SNIPPET_RE = re.compile(r'^--8<-- "([^"]+)"$')


def _expand(line: str) -> str:
    """A pymdownx.snippets line is replaced by the file it includes, as in the site."""
    m = SNIPPET_RE.match(line.strip())
    return (ROOT / m.group(1)).read_text().rstrip("\n") if m else line


def doc_pages() -> list[Path]:
    """Every Markdown page of the site (the hooks folder is not a page)."""
    return sorted(p for p in DOCS.rglob("*.md") if "_hooks" not in p.parts)


def console_source(body: str) -> str:
    """The Python typed at the ``>>>`` prompts of a console session."""
    examples = doctest.DocTestParser().get_examples(body)
    return "".join(e.source for e in examples)


def code_blocks(lang: str) -> list[tuple[Path, int, str]]:
    """``(page, line, source)`` of every fenced block in ``lang`` across the docs.

    A ```python block written as a console session (``>>>`` prompts) yields
    the code typed at the prompts; ```pycon blocks are run as doctests.
    """
    out = []
    for page in doc_pages():
        text = page.read_text()
        for m in FENCE_RE.finditer(text):
            if m.group("lang") == lang:
                line = text.count("\n", 0, m.start()) + 1
                body = "\n".join(
                    _expand(ln[len(m.group("indent")) :]) for ln in m.group("body").splitlines()
                )
                if lang == "python" and body.lstrip().startswith(">>>"):
                    body = console_source(body)
                out.append((page.relative_to(ROOT), line, body))
    return out


def promtool() -> str:
    """Path of promtool; ``make test`` installs the Debian package when missing."""
    path = shutil.which("promtool") or (
        "/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None
    )
    assert path, (
        "promtool not found: apt-get install prometheus (make docs-promtool does it as root)"
    )
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


# -- metric names ---------------------------------------------------------------

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": (),
}


def exported_families() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Exposition name -> (type, label names) of every metric opskit exports.

    Built from the metrics capability itself: its metric bundle registered
    on a fresh registry, and its scrape-time collector, so the names, types
    and labels are what a real scrape shows.
    """
    from prometheus_client import CollectorRegistry

    from opskit.metrics import METRIC_NAMES, Metrics
    from opskit.metrics.collector import SystemCollector

    bundle = Metrics(CollectorRegistry(), (0.1, 1.0))
    families: dict[str, tuple[str, tuple[str, ...]]] = {}
    for collector in bundle.collectors:
        if isinstance(collector, SystemCollector):
            continue
        for family in collector.describe():
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = tuple(getattr(collector, "_labelnames", ()))
            families[name] = (family.type, labels)
    for family in SystemCollector().collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = tuple(k for k in (family.samples[0].labels if family.samples else {}) if k != "le")
        families[name] = (family.type, labels)
    assert set(families) == set(METRIC_NAMES), (
        "opskit.metrics.METRIC_NAMES and the registered metrics disagree: "
        f"{sorted(set(families) ^ set(METRIC_NAMES))}"
    )
    return families


def exported_metrics() -> dict[str, str]:
    """Exposition name -> type of every metric opskit exports."""
    return {name: kind for name, (kind, _) in exported_families().items()}


def sample_names(metrics: dict[str, str]) -> dict[str, str]:
    """Every name a scrape can show (``_total``, ``_bucket`` ...) -> its family."""
    out: dict[str, str] = {}
    for name, kind in metrics.items():
        out[name] = name
        base = name.removesuffix("_total") if kind == "counter" else name
        for suffix in _SUFFIXES[kind]:
            out[base + suffix] = name
    return out


_PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "inf", "nan", "atan2",
}  # fmt: skip
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_CLAUSE_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT_RE = re.compile(r"(?<![\w:.$])([A-Za-z_:][A-Za-z0-9_:]*)(?![\w:]|\s*\()")


def promql_metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (a lexer, not a parser: enough here).

    Strings, label matchers, range/offset durations and grouping clauses are
    removed first; what is left that is neither a function nor a keyword is a
    metric name.
    """
    expr = _STRING_RE.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = _CLAUSE_RE.sub("", expr)
    expr = re.sub(r"\boffset\s+-?\w+", "", expr)
    return {m for m in _IDENT_RE.findall(expr) if m.lower() not in _PROMQL_KEYWORDS}


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's template variables so promtool can parse the expression."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    expr = expr.replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", r".*", expr)
