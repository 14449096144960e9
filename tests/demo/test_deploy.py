"""The container files, checked without a Docker engine.

``docker-compose.yml`` parses and every file it mounts exists; promtool
accepts the demo's Prometheus config; Grafana's provisioning points at the
mounted dashboard; the Dockerfile copies existing paths, runs as a non-root
user and probes with a command that exists; and its start steps, replayed
by ``tools/dockerfile_smoke.py --reuse-venv``, serve ``/livez`` and the
seeded ``/api/posts/`` under gunicorn with several workers.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.dockerfile_smoke import command_args, instructions

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        out.append((source, target))
    return out


def test_compose_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    demo = services["demo"]
    env = demo["environment"]
    assert (
        env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    )
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert demo["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]
    # Prometheus reaches /metrics through the allow-list, i.e. the compose subnet.
    subnet = compose["networks"]["opskit"]["ipam"]["config"][0]["subnet"]
    assert env["METRICS_ALLOWED_IPS"] == subnet
    assert int(env["WEB_CONCURRENCY"]) > 1


def test_dockerfile_static() -> None:
    steps = instructions((ROOT / "Dockerfile").read_text())
    words = [w for w, _ in steps]
    assert words[0] == "FROM" and steps[0][1].startswith("python:") and "slim" in steps[0][1]
    for word, arg in steps:
        if word == "COPY":
            *sources, _dest = [p for p in arg.split() if not p.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), source
    users = [arg for w, arg in steps if w == "USER"]
    assert users and users[-1] not in ("root", "0")
    # Dependencies are installed before the sources are copied (cached layer).
    first_source_copy = next(
        i for i, (w, a) in enumerate(steps) if w == "COPY" and "demo_project" in a
    )
    first_install = next(i for i, (w, a) in enumerate(steps) if w == "RUN" and "pip install" in a)
    assert first_install < first_source_copy
    (health,) = [a for w, a in steps if w == "HEALTHCHECK"]
    probe = command_args(health.partition("CMD")[2].strip())
    assert probe[:3] == ["python", "manage.py", "opskit_health"]
    assert importlib.util.find_spec("opskit.management.commands.opskit_health") is not None
    (cmd,) = [a for w, a in steps if w == "CMD"]
    assert "gunicorn demo.wsgi -c python:opskit.gunicorn" in " ".join(command_args(cmd))
    assert importlib.util.find_spec("opskit.gunicorn") is not None


@pytest.mark.slow
def test_dockerfile_start_steps_serve_the_demo() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools/dockerfile_smoke.py"), "--reuse-venv"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "/livez 200" in out
    assert "/api/posts/ 200" in out
    assert "HEALTHCHECK python manage.py opskit_health --live: exit 0" in out
    assert "SIGTERM: clean exit" in out
