"""The exposition passes ``promtool check metrics`` and both parsers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse

from opskit.metrics import METRIC_NAMES

from .conftest import parse
from .exposition import exposition

ROOT = Path(__file__).resolve().parents[2]


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make promtool` installs it (Debian package prometheus)"
    return path


def test_promtool_accepts_the_exposition(fresh: Any) -> None:
    text = exposition()
    out = subprocess.run(
        [_promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "" and out.stderr.strip() == ""
    names = {s.name for s in parse(text)}
    assert {"opskit_db_slow_queries_total", "opskit_health_check_status"} <= names


def test_promtool_rejects_a_broken_exposition() -> None:
    """The check above can fail: promtool does lint what it is given."""
    out = subprocess.run(
        [_promtool(), "check", "metrics"],
        input="# TYPE bad_seconds counter\nbad_seconds 1\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode != 0


def test_openmetrics_exposition_parses(fresh: Any) -> None:
    text = exposition("application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in om_parse(text)}
    for name in METRIC_NAMES:
        assert name.removesuffix("_total") in families, name
    assert families["http_server_request_duration_seconds"].type == "histogram"
    assert families["opskit_db_slow_queries"].type == "counter"


def test_the_make_target_script_prints_an_exposition() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run(
        [sys.executable, "-m", "tests.metrics.exposition"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'opskit_ratelimit_decisions_total{outcome="limited",scope="login"} 1.0' in out.stdout
