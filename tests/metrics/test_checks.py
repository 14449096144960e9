"""One test per system-check id of the metrics section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from opskit.metrics.checks import check_metrics


def _ids(settings: Any, **metrics: Any) -> list[str]:
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": metrics}
    return [m.id for m in check_metrics()]


def test_defaults_are_clean(settings: Any) -> None:
    assert _ids(settings) == []


@pytest.mark.parametrize(
    "path", ["tests.metrics.registries.NOT_A_REGISTRY", "tests.metrics.nowhere.X", "nodots"]
)
def test_e201_bad_registry(settings: Any, path: str) -> None:
    assert _ids(settings, REGISTRY=path) == ["opskit.E201"]
    assert _ids(settings, REGISTRY="tests.metrics.registries.fresh") == []
    assert _ids(settings, REGISTRY="tests.metrics.registries.SHARED") == []


@pytest.mark.parametrize(
    "buckets", [[], [0.1, 0.1], [1.0, 0.5], [-1.0, 1.0], [0.0, 1.0], [1.0, float("inf")]]
)
def test_e202_bad_buckets(settings: Any, buckets: list[float]) -> None:
    assert _ids(settings, BUCKETS=buckets) == ["opskit.E202"]


def test_e203_bad_allowed_ips(settings: Any) -> None:
    assert _ids(settings, ALLOWED_IPS=["127.0.0.0/8", "10.0.0.0/33", "nope"]) == [
        "opskit.E203",
        "opskit.E203",
    ]


def test_e204_max_routes(settings: Any) -> None:
    assert _ids(settings, MAX_ROUTES=0) == ["opskit.E204"]


def test_e205_multiproc_dir_missing(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    ids = _ids(settings)
    assert "opskit.E205" in ids
    # W203 too: this test process imported prometheus_client without it.
    assert "opskit.W203" in ids


def test_w203_multiproc_dir_set_too_late(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert _ids(settings) == ["opskit.W203"]


@pytest.mark.parametrize("ranges", [["0.0.0.0/0"], ["127.0.0.1/32", "::/0"]])
def test_w201_open_to_everyone(settings: Any, ranges: list[str]) -> None:
    assert _ids(settings, ALLOWED_IPS=ranges) == ["opskit.W201"]
    assert _ids(settings, ALLOWED_IPS=ranges, BEARER_TOKEN="x" * 32) == []


def test_w202_short_token(settings: Any) -> None:
    assert _ids(settings, BEARER_TOKEN="short") == ["opskit.W202"]
    assert _ids(settings, BEARER_TOKEN="") == ["opskit.W202"]


def test_w204_missing_disk_path(settings: Any, tmp_path: Path) -> None:
    assert _ids(settings, DISK_PATHS=[str(tmp_path), str(tmp_path / "gone")]) == ["opskit.W204"]
    assert _ids(settings, DISK_PATHS=[str(tmp_path / "gone")], SYSTEM_METRICS=False) == []


def test_disabled_metrics_are_not_checked(settings: Any) -> None:
    assert _ids(settings, ENABLED=False, MAX_ROUTES=0, ALLOWED_IPS=["0.0.0.0/0"]) == []


def test_registered_with_manage_py_check(settings: Any) -> None:
    settings.OPSKIT = {**settings.OPSKIT, "METRICS": {"MAX_ROUTES": 0}}
    with pytest.raises(SystemCheckError, match=r"opskit\.E204"):
        call_command("check")
