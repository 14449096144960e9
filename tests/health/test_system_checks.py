"""One test per system-check id of the health capability."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings


def ids(**health: Any) -> list[str]:
    with override_settings(OPSKIT={"HEALTH": health}):
        found = checks.run_checks()
    return sorted(m.id for m in found if m.id and m.id.startswith(("opskit.E5", "opskit.W5")))


def test_defaults_are_clean() -> None:
    assert ids() == []


@pytest.mark.parametrize(
    "spec",
    [
        "nope",
        "no_such_module.Check",
        {"name": "x"},
        {"check": "memory", "bogus_option": 1},
        "memory:arg",
        {"check": "tests.health.checks_for_tests.Switch", "name": "bad name!"},
        42,
    ],
)
def test_e501_invalid_check_spec(spec: Any) -> None:
    assert ids(CHECKS=[spec]) == ["opskit.E501"]


def test_e501_duplicate_names() -> None:
    assert ids(CHECKS=["memory", "memory"]) == ["opskit.E501"]


def test_e502_bad_details_value() -> None:
    assert ids(DETAILS="sometimes") == ["opskit.E502"]


@pytest.mark.parametrize(
    "paths",
    [
        {"PATHS": ["readyz", "/livez", "/startupz"]},
        {"PATHS": ["/readyz", "/readyz", "/livez", "/startupz"]},
        {"PATHS": ["/readyz"], "LIVE_PATHS": ["/livez"], "STARTUP_PATHS": []},
    ],
)
def test_e503_bad_paths(paths: dict[str, Any]) -> None:
    assert ids(**paths) == ["opskit.E503"]


@pytest.mark.parametrize("key", ["DEADLINE", "TTL", "PROBE_TIMEOUT"])
def test_e504_non_positive_durations(key: str) -> None:
    assert ids(**{key: 0}) == ["opskit.E504"]


def test_w501_shadowed_project_url() -> None:
    with override_settings(ROOT_URLCONF="tests.health.urls"):
        assert ids() == ["opskit.W501"]
        # Without the core middleware nothing is intercepted, nothing shadowed.
        with override_settings(MIDDLEWARE=[]):
            assert ids() == []


def test_w502_details_always() -> None:
    assert ids(DETAILS="always") == ["opskit.W502"]


def test_w503_deadline_over_kubernetes_timeout() -> None:
    assert ids(DEADLINE=1.5) == ["opskit.W503"]
    assert ids(CHECKS=[{"check": "memory", "timeout": 2.0}]) == ["opskit.W503"]


def test_disabled_health_is_not_checked() -> None:
    assert ids(ENABLED=False, DETAILS="sometimes", CHECKS=["nope"]) == []


def test_w504_postgresql_alias_without_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connections

    pg = {"ENGINE": "django.db.backends.postgresql", "NAME": "x", "OPTIONS": {}}
    monkeypatch.setitem(connections.settings, "unbounded", pg)
    assert ids() == ["opskit.W504"]
    monkeypatch.setitem(pg, "OPTIONS", {"connect_timeout": 2})
    assert ids() == []


def test_e505_sentinel_location_without_a_service(settings: Any) -> None:
    settings.CACHES = {
        **settings.CACHES,
        "nosvc": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis:///0",
            "OPTIONS": {"SENTINELS": [("127.0.0.1", 26379)]},
        },
    }
    assert ids(CHECKS=["redis:nosvc"]) == ["opskit.E505"]
    with override_settings(OPSKIT={"HEALTH": {"CHECKS": ["redis:nosvc"]}}):
        (error,) = [m for m in checks.run_checks() if m.id == "opskit.E505"]
    assert "redis.nosvc" in error.msg and "names none" in error.msg
    settings.CACHES["nosvc"]["LOCATION"] = "redis://mymaster/0"
    assert ids(CHECKS=["redis:nosvc"]) == []
