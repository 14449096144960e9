from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from opskit.metrics import Metrics, get_metrics


def parse(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def pick(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    return [
        s
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    return sum(s.value for s in pick(samples, name, **labels))


def scrape(**extra: Any) -> list[Sample]:
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200, response.content
    return parse(response.content.decode())


@pytest.fixture
def configure(settings: Any) -> Callable[..., Metrics]:
    """Metrics on a fresh registry (plus any METRICS keys); returns the bundle."""
    settings.ROOT_URLCONF = "tests.metrics.urls"

    def apply(**metrics: Any) -> Metrics:
        section = {"REGISTRY": "tests.metrics.registries.fresh", **metrics}
        settings.OPSKIT = {**settings.OPSKIT, "METRICS": section}
        bundle = get_metrics()
        assert bundle is not None
        return bundle

    return apply


@pytest.fixture
def fresh(configure: Callable[..., Metrics]) -> Metrics:
    return configure()
