"""Lazy creation, injectable registries, no "Duplicated timeseries"."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest

from opskit.context import RequestRecord
from opskit.metrics import METRIC_NAMES, get_metrics
from opskit.metrics.extension import MetricsExtension

from ..support.processes import run_python
from . import registries
from .conftest import parse, pick

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return run_python(textwrap.dedent(code), env, ROOT, timeout=60)


def test_nothing_is_registered_at_import_or_startup() -> None:
    out = _run(
        """
        import django
        django.setup()  # runs the capabilities' ready hooks (signal receivers)
        import opskit.gunicorn, opskit.urls, opskit.metrics
        import opskit.metrics.checks, opskit.metrics.collector, opskit.metrics.extension
        import opskit.metrics.receivers, opskit.metrics.views
        from prometheus_client import REGISTRY
        def ours():
            names = REGISTRY._names_to_collectors
            return sorted(n for n in names if n.startswith(("http_server", "opskit_")))
        print("before", ours())
        opskit.metrics.get_metrics()
        print("after", len(ours()) > 0)
        """
    )
    assert "before []" in out
    assert "after True" in out


def test_module_reload_does_not_raise_duplicated_timeseries() -> None:
    out = _run(
        """
        import importlib
        import django
        django.setup()
        import opskit.metrics.definitions as d
        first = d.get_metrics()
        d = importlib.reload(d)  # a new module: its own bookkeeping, same registry
        second = d.get_metrics()
        from prometheus_client import REGISTRY, generate_latest
        text = generate_latest(REGISTRY).decode()
        print(first is not second, text.count("# TYPE http_server_active_requests gauge"))
        print(text.count("# TYPE opskit_process_threads gauge"))
        """
    )
    assert out.split() == ["True", "1", "1"]


def test_settings_reloads_reuse_the_same_metrics(settings: Any) -> None:
    first = get_metrics()
    assert first is not None and first.registry is REGISTRY
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {"MAX_ROUTES": 100}}
    second = get_metrics()
    assert second is first and second.routes.limit == 100
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {"BUCKETS": [0.1, 1.0]}}
    third = get_metrics()
    assert third is not None and third is not first and third.buckets == (0.1, 1.0)
    Client().get("/sync/1/")
    text = generate_latest(REGISTRY).decode()
    assert text.count("# TYPE http_server_request_duration_seconds histogram") == 1
    assert 'le="0.005"' not in text.split("# TYPE http_server_active_requests")[0]
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {}}
    fourth = get_metrics()
    assert fourth is not None and fourth.buckets[0] == 0.005
    assert generate_latest(REGISTRY).decode().count("# TYPE http_server_active_requests") == 1


def test_user_registry_object(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.metrics.urls"
    settings.OPSKIT = {
        **settings.OPSKIT,
        "METRICS": {"REGISTRY": "tests.metrics.registries.SHARED"},
    }
    bundle = get_metrics()
    assert bundle is not None and bundle.registry is registries.SHARED
    before = _count(registries.SHARED)
    Client().get("/m/sync/3/")
    assert _count(registries.SHARED) == before + 1
    # The exposition is the user's registry, with whatever else it holds.
    mine = Counter("my_app_things", "A metric of the user's own.", registry=registries.SHARED)
    try:
        mine.inc()
        body = Client().get("/metrics").content.decode()
        assert "my_app_things_total 1.0" in body
        assert "python_gc_objects_collected_total" not in body  # not the default registry
    finally:
        registries.SHARED.unregister(mine)


def _count(registry: CollectorRegistry) -> float:
    samples = parse(generate_latest(registry).decode())
    return sum(
        s.value
        for s in pick(samples, "http_server_request_duration_seconds_count")
        if s.labels["http_route"] == "m/sync/<int:pk>/"
    )


#: A registry where someone else already owns one of opskit's names.
STRANGER = CollectorRegistry()


def test_a_strangers_metric_of_the_same_name_is_not_replaced(settings: Any) -> None:
    stranger = Counter("http_server_active_requests", "Not ours.", registry=STRANGER)
    try:
        settings.OPSKIT = {
            **settings.OPSKIT,
            "METRICS": {"REGISTRY": "tests.metrics.test_registry.STRANGER"},
        }
        with pytest.raises(ValueError, match="Duplicated timeseries"):
            get_metrics()
        # The request path survives: the extension turns itself off.
        assert MetricsExtension().active is False
        assert Client().get("/sync/1/").status_code == 200
        stranger.inc()
        assert "http_server_active_requests_total 1.0" in generate_latest(STRANGER).decode()
    finally:
        STRANGER.unregister(stranger)


@pytest.mark.parametrize(
    "path", ["tests.metrics.registries.NOT_A_REGISTRY", "tests.metrics.nowhere.REG"]
)
def test_bad_registry_setting(settings: Any, path: str) -> None:
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {"REGISTRY": path}}
    assert MetricsExtension().active is False
    assert Client().get("/sync/1/").status_code == 200
    # The endpoint says so plainly instead of failing with a 500.
    response = Client().get("/metrics")
    assert response.status_code == 503 and response.content == b"metrics unavailable\n"


def test_metric_names_list_matches_the_exposition(fresh: Any) -> None:
    from opskit import signals

    signals.ratelimit_decided.send(None, scope="s", outcome="allowed", record=None)
    signals.health_checked.send(None, check="c", status="pass", duration=0.1, critical=True)
    signals.slow_query.send(None, alias="default", duration=1.0)
    signals.n_plus_one_detected.send(None, alias="default", count=5, duration=0.1)
    signals.slow_request_detected.send(None, threshold=1.0, duration=2.0, record=None)
    signals.unused_eager_load.send(None, kind="select_related", model="a.B", lookup="c")
    task = RequestRecord("t" * 32, method="TASK", path="job")
    task.extra["task"] = {"name": "job", "queue_wait": 0.5}
    signals.task_started.send(None, record=task)
    task.finish()
    for state in ("succeeded", "failed", "retried"):
        signals.task_finished.send(None, record=task, state=state)
    Client().get("/m/db/")
    samples = parse(Client().get("/metrics").content.decode())
    names = {s.name for s in samples}
    for name in METRIC_NAMES:
        assert name in names or f"{name}_count" in names, name
    emitted = {
        n.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
        for n in names
        if not n.endswith("_created")
    }
    assert emitted == set(METRIC_NAMES)
