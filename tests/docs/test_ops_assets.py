"""The operations assets in docs/ops/ are valid, tested, and use only what opskit exports.

promtool (Debian package ``prometheus``) checks the alert rules, runs their
unit tests, parses every dashboard query and checks the scrape config.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from opskit.conf import HealthSettings

from .util import (
    OPS,
    code_blocks,
    exported_families,
    exported_metrics,
    grafana_to_promql,
    promql_metric_names,
    promtool,
    run,
    sample_names,
)

REQUIRED_ALERTS = {
    "OpsKitHighErrorRatio",
    "OpsKitLatencyObjectiveBurn",
    "OpsKitReadinessFailing",
    "OpsKitRateLimitingSpike",
    "OpsKitNPlusOneSurge",
}


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((OPS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _unknown(names: set[str]) -> set[str]:
    return names - sample_names(exported_metrics()).keys()


#: Labels Prometheus adds (target labels) or derives (histogram buckets).
TARGET_LABELS = {"job", "instance", "le", "pod", "namespace", "env"}
_GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHER_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")


def _labels_used(expr: str) -> set[str]:
    names = {n.strip() for group in _GROUPING_RE.findall(expr) for n in group.split(",")}
    names |= set(_MATCHER_RE.findall(expr))
    return names - {""}


def _unknown_labels(exprs: list[str]) -> set[str]:
    known = TARGET_LABELS | {
        label for _, labels in exported_families().values() for label in labels
    }
    return set().union(*(_labels_used(e) for e in exprs)) - known


# -- alert rules -------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = run(promtool(), "check", "rules", str(OPS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_rules())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts() -> None:
    result = run(promtool(), "test", "rules", "alerts.test.yml", cwd=OPS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_required_alerts_exist_with_severity_and_annotations() -> None:
    rules = {r["alert"]: r for r in _rules() if "alert" in r}
    assert rules.keys() >= REQUIRED_ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"page", "ticket"}, name
        assert {"summary", "description"} <= rule["annotations"].keys(), name


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    """Each alert has a promtool case where it fires and one where it does not."""
    cases = yaml.safe_load((OPS / "alerts.test.yml").read_text())["tests"]
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in _rules() if "alert" in r}
    assert names - fires == set(), "alerts never seen firing in alerts.test.yml"
    assert names - quiet == set(), "alerts never seen quiet in alerts.test.yml"


def test_alert_rules_use_only_exported_metrics() -> None:
    used = set().union(*(promql_metric_names(r["expr"]) for r in _rules()))
    assert used, "no metric found in the rules: the extractor is broken"
    assert _unknown(used) == set()


def test_alert_rules_use_only_exported_labels() -> None:
    assert _unknown_labels([r["expr"] for r in _rules()]) == set()


def test_alert_unit_tests_feed_exported_series() -> None:
    cases = yaml.safe_load((OPS / "alerts.test.yml").read_text())["tests"]
    series = [s["series"] for c in cases for s in c["input_series"]]
    assert _unknown({s.split("{")[0] for s in series}) == set()
    assert _unknown_labels(series) == set()


# -- Grafana dashboard -------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    return json.loads((OPS / "grafana-dashboard.json").read_text())


def _panels() -> list[dict[str, Any]]:
    out = []
    for panel in _dashboard()["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def _exprs() -> list[str]:
    exprs = [t["expr"] for p in _panels() for t in p.get("targets", [])]
    for var in _dashboard()["templating"]["list"]:
        query = var.get("query")
        if var["type"] == "query":
            text = query["query"] if isinstance(query, dict) else query
            exprs.append(text.removeprefix("label_values(").rsplit(",", 1)[0])
    return exprs


def test_dashboard_uses_only_exported_metrics() -> None:
    used = set().union(*(promql_metric_names(e) for e in _exprs()))
    assert len(used) >= 10, f"too few metrics found ({used}): the extractor is broken"
    assert _unknown(used) == set(), "the dashboard queries metrics opskit does not export"


def test_dashboard_uses_only_exported_labels() -> None:
    exprs = _exprs()
    assert "alias" in set().union(*(_labels_used(e) for e in exprs))
    assert _unknown_labels(exprs) == set()


def test_dashboard_covers_what_an_on_call_engineer_needs() -> None:
    families = sample_names(exported_metrics())
    used = {families[n] for e in _exprs() for n in promql_metric_names(e) if n in families}
    exprs = "\n".join(_exprs())
    assert {
        "http_server_request_duration_seconds",
        "http_server_active_requests",
        "opskit_ratelimit_decisions_total",
        "opskit_health_check_status",
        "opskit_db_queries_per_request",
        "opskit_db_n_plus_one_total",
        "opskit_db_slow_queries_total",
        "opskit_process_resident_memory_bytes",
        "opskit_process_cpu_seconds_total",
    } <= used
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (le) (rate(http_server_request_duration" in exprs
    assert 'http_response_status_code=~"5.."' in exprs


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    """promtool parses each query, given as a recording rule."""
    exprs = [grafana_to_promql(e) for e in _exprs() if not e.startswith("label_values")]
    rules = [{"record": f"opskit:dashboard:q{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool(), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_dashboard_is_importable() -> None:
    dash = _dashboard()
    panels = _panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    for p in panels:
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"] and all(t["refId"] and t["expr"] for t in p["targets"])
            assert p.get("description"), f"panel {p['title']!r} has no description"


# -- Prometheus scrape config ------------------------------------------------


def test_promtool_check_config(tmp_path: Path) -> None:
    """The scrape example is valid; its token file and rule file resolve."""
    token = tmp_path / "token"
    token.write_text("a-long-random-token\n")
    text = (OPS / "prometheus.yml").read_text()
    assert "/etc/prometheus/secrets/opskit-metrics-token" in text
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/secrets/opskit-metrics-token", str(token))
    )
    (tmp_path / "alerts.yml").write_text((OPS / "alerts.yml").read_text())
    result = run(promtool(), "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_scrape_jobs_send_the_bearer_token_from_a_file() -> None:
    for name in ("prometheus.yml", "prometheus-kubernetes.yml"):
        jobs = yaml.safe_load((OPS / name).read_text())["scrape_configs"]
        assert jobs, name
        for job in jobs:
            assert job["metrics_path"] == "/metrics"
            assert job["authorization"]["credentials_file"].startswith("/etc/prometheus/")
            assert "credentials" not in job["authorization"], "never inline the token"


def test_kubernetes_scrape_job_keeps_annotated_pods() -> None:
    (job,) = yaml.safe_load((OPS / "prometheus-kubernetes.yml").read_text())["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep"
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]


# -- Kubernetes probes -------------------------------------------------------


def _container() -> tuple[dict[str, Any], dict[str, Any]]:
    deployment = yaml.safe_load((OPS / "kubernetes-probes.yaml").read_text())
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    return pod, container


def test_probe_paths_are_opskit_health_paths() -> None:
    _, c = _container()
    health = HealthSettings()
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] in health.PATHS, probe
    assert c["livenessProbe"]["httpGet"]["path"] in health.LIVE_PATHS
    assert c["startupProbe"]["httpGet"]["path"] in health.STARTUP_PATHS
    readiness = c["readinessProbe"]["httpGet"]["path"]
    assert readiness not in health.LIVE_PATHS + health.STARTUP_PATHS


def test_probe_timeouts_leave_room_for_the_health_deadline() -> None:
    """opskit answers within DEADLINE (0.9 s): the kubelet's timeout is longer."""
    _, c = _container()
    deadline = HealthSettings().DEADLINE
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        timeout = c[probe]["timeoutSeconds"]
        assert deadline < timeout, f"{probe}: timeoutSeconds {timeout} <= deadline {deadline}"
        assert c[probe]["periodSeconds"] >= timeout, probe
    # The liveness probe tolerates a slow moment: restarts need 3 misses.
    assert c["livenessProbe"]["failureThreshold"] >= 3


def test_metrics_annotations_and_multiprocess_dir_agree() -> None:
    pod, c = _container()
    ann = pod["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/path"] == "/metrics"
    assert int(ann["prometheus.io/port"]) == c["ports"][0]["containerPort"]
    env = {e["name"]: e for e in c["env"]}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    multiproc = env["PROMETHEUS_MULTIPROC_DIR"]["value"]
    (name,) = [n for n, path in mounts.items() if path == multiproc]
    assert "emptyDir" in volumes[name]
    assert c["command"][:3] == ["gunicorn", "-c", "python:opskit.gunicorn"]
    assert "secretKeyRef" in env["OPSKIT_METRICS_TOKEN"]["valueFrom"]


# -- PromQL in the pages ------------------------------------------------------


def _promql_in_pages() -> list[tuple[str, str]]:
    """(where, expression) for each query in the ```promql blocks (comments separate them)."""
    out = []
    for page, line, source in code_blocks("promql"):
        current: list[str] = []
        for text in [*source.splitlines(), "#"]:
            if text.strip().startswith("#") or not text.strip():
                if current:
                    out.append((f"{page}:{line}", " ".join(current)))
                    current = []
            else:
                current.append(text.strip())
    return out


def test_promql_examples_in_the_docs_use_exported_names_and_parse(tmp_path: Path) -> None:
    queries = _promql_in_pages()
    assert len(queries) >= 4, "the docs lost their PromQL examples"
    for where, expr in queries:
        assert _unknown(promql_metric_names(expr)) == set(), where
        assert _unknown_labels([expr]) == set(), where
    rules = [{"record": f"opskit:docs:q{i}", "expr": e} for i, (_, e) in enumerate(queries)]
    path = tmp_path / "docs-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "docs", "rules": rules}]}))
    result = run(promtool(), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
