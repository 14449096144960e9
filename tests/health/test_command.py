"""``manage.py opskit_health``: exit codes and the deadline, in real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def command(*args: str, **env: Any) -> tuple[int, str, float]:
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.health.cmd_settings",
        "PYTHONPATH": str(ROOT),
        **{k: (json.dumps(v) if not isinstance(v, str) else v) for k, v in env.items()},
    }
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "django", "opskit_health", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode, out.stdout + out.stderr, time.monotonic() - t0


def startup_cost() -> float:
    t0 = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "django", "check", "--help"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.health.cmd_settings"},
        capture_output=True,
        check=True,
    )
    return time.monotonic() - t0


def test_pass_and_details() -> None:
    code, out, _ = command("--ready", "--json", HEALTH_TEST_OPTIONS={"CHECKS": ["memory"]})
    assert code == 0, out
    doc = json.loads(out)
    assert doc["status"] == "pass" and "memory:utilization" in doc["checks"]


def test_warn_exits_zero() -> None:
    opts = {"CHECKS": [{"check": "disk:/", "warn_percent": 0.0}]}
    code, out, _ = command(HEALTH_TEST_OPTIONS=opts)
    assert code == 0 and out.startswith("warn"), out


@pytest.mark.postgres
def test_hung_dependency_exits_1_within_the_deadline(hung_listener: Any) -> None:
    opts = {"CHECKS": ["database:hung", "memory"], "DEADLINE": 0.5, "PROBE_TIMEOUT": 30}
    base = startup_cost()
    code, out, elapsed = command(
        "--ready", HEALTH_TEST_OPTIONS=opts, HEALTH_TEST_HUNG_PORT=str(hung_listener.port)
    )
    assert code == 1, out
    assert out.startswith("fail") and "db.hung:responseTime: fail (hung for" in out
    assert hung_listener.accepted
    # Start-up plus the deadline: never the 30 s the connection would wait.
    assert elapsed < base + 0.5 + 3.0
    # --live does no I/O: healthy even now.
    code, out, _ = command(
        "--live", HEALTH_TEST_OPTIONS=opts, HEALTH_TEST_HUNG_PORT=str(hung_listener.port)
    )
    assert code == 0 and out.strip() == "pass"
    # --exclude skips the hung check.
    code, out, _ = command(
        "--exclude",
        "db.hung",
        HEALTH_TEST_OPTIONS=opts,
        HEALTH_TEST_HUNG_PORT=str(hung_listener.port),
    )
    assert code == 0, out


def test_startup_pending_migrations_then_applied(tmp_path: Path) -> None:
    db = str(tmp_path / "fresh.sqlite3")
    code, out, _ = command("--startup", HEALTH_TEST_SQLITE=db)
    assert code == 1 and "unapplied migrations" in out, out
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.health.cmd_settings",
            "HEALTH_TEST_SQLITE": db,
        },
        check=True,
        capture_output=True,
    )
    code, out, _ = command("--startup", HEALTH_TEST_SQLITE=db)
    assert code == 0 and out.startswith("pass"), out


@pytest.mark.postgres
def test_json_is_pure_with_json_logs_on_stdout(hung_listener: Any) -> None:
    """A failing check logs its transition; with JSON logging on stdout the
    log line must go to stderr and stdout must parse as one JSON document."""
    opts = {"CHECKS": ["database:hung", "memory"], "DEADLINE": 0.3, "PROBE_TIMEOUT": 30}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.health.cmd_settings",
        "PYTHONPATH": str(ROOT),
        "HEALTH_TEST_OPTIONS": json.dumps(opts),
        "HEALTH_TEST_HUNG_PORT": str(hung_listener.port),
        "HEALTH_TEST_JSON_LOGS": "1",
    }
    out = subprocess.run(
        [sys.executable, "-m", "django", "opskit_health", "--ready", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    doc = json.loads(out.stdout)  # the whole of stdout, nothing else
    assert doc["status"] == "fail"
    assert doc["checks"]["db.hung:responseTime"][0]["status"] == "fail"
    # The transition was logged, as JSON, on stderr instead.
    logged = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    assert any(r.get("logger") == "opskit.health" for r in logged), out.stderr
