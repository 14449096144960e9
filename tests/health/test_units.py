"""Pure pieces: output sanitizing, specs, the Accept negotiation, celery."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from opskit.conf import HealthSettings
from opskit.health import Check, CheckFailed, health_check
from opskit.health.base import MAX_OUTPUT, sanitize
from opskit.health.builtin import CeleryBrokerCheck, DatabaseCheck, RedisCheck
from opskit.health.registry import build_checks, build_one
from opskit.health.views import _prefers_html


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            ConnectionError(
                'connection to server at "db-1.prod.internal" (10.0.3.7), port 5432 failed: '
                "timeout expired\nTraceback (most recent call last): ..."
            ),
            "ConnectionError: connection to server at " + '"…"' + " (<address>), port <n> "
            "failed: timeout expired",
        ),
        (OSError("No such file: /var/lib/app/data.db"), "OSError: No such file: <path>"),
        (ValueError("bad url redis://:pw@cache:6379/0 given"), "ValueError: bad url <url> given"),
        (TimeoutError("to [2001:db8::1]:6379"), "TimeoutError: to <address>"),
        (TimeoutError(), "TimeoutError"),
        (CheckFailed("3 unapplied migrations"), "3 unapplied migrations"),
        ("localhost refused", "<name> refused"),
    ],
)
def test_sanitize(exc: Any, expected: str) -> None:
    assert sanitize(exc) == expected


def test_sanitize_bounds_length() -> None:
    assert len(sanitize(RuntimeError("x " * 500))) == MAX_OUTPUT


def test_specs_build_the_builtins() -> None:
    s = HealthSettings(PROBE_TIMEOUT=3.0, MEMORY_WARN_PERCENT=80.0)
    db = build_one("database:other", s)
    assert isinstance(db, DatabaseCheck) and db.alias == "other" and db.connect_timeout == 3.0
    assert db.name == "db.other" and db.key == "db.other:responseTime" and db.critical
    mem = build_one("memory", s)
    assert mem.warn_percent == 80.0 and not mem.critical  # type: ignore[attr-defined]
    named = build_one({"check": "redis:redis", "name": "sessions", "critical": False}, s)
    assert isinstance(named, RedisCheck) and named.name == "sessions" and not named.critical
    assert build_one("disk:/var/lib", s).name == "disk.var.lib"


def test_derived_checks_follow_databases_and_caches() -> None:
    names = [c.name for c in build_checks(HealthSettings())]
    assert names == [
        "db.default",
        "db.other",
        "cache.default",
        "redis.redis",
        "disk",
        "memory",
        "migrations.default",
    ]
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        assert "celery" in [c.name for c in build_checks(HealthSettings())]


def test_class_and_decorator_forms() -> None:
    class Payments(Check):
        critical = False

        def run(self) -> float | None:
            return 3.0

    assert Payments().name == "payments" and Payments().run() == 3.0
    with pytest.raises(ValueError):
        Payments(name="no spaces")
    with pytest.raises(ValueError):
        Payments(timeout=0)

    @health_check(name="queue", critical=False, timeout=0.2)
    def queue_depth() -> float:
        return 12.0

    assert (queue_depth.name, queue_depth.critical, queue_depth.timeout) == ("queue", False, 0.2)
    assert queue_depth() == 12.0


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json", False),
        ("*/*", False),
        ("application/health+json, text/html;q=0.1", False),
        ("text/html;q=0", False),
        ("text/html;q=bogus", False),
        ("text/plain, text/html", True),
    ],
)
def test_accept_negotiation(accept: str, html: bool) -> None:
    assert _prefers_html(accept) is html


@pytest.mark.redis
def test_celery_redis_broker(settings: Any) -> None:
    check = CeleryBrokerCheck(url=settings.REDIS_URL, connect_timeout=1.0)
    try:
        assert check.run() is None
    finally:
        check.close()
    with override_settings(CELERY_BROKER_URL=None), pytest.raises(CheckFailed):
        CeleryBrokerCheck().run()


def test_sentinel_location_without_a_service_is_a_clear_error(settings: Any) -> None:
    """django-redis's Sentinel LOCATION is redis://<service>/<db>: none named, no guess."""
    settings.CACHES = {
        **settings.CACHES,
        "nosvc": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis:///0",
            "OPTIONS": {"SENTINELS": [("127.0.0.1", 1)]},
        },
    }
    check = RedisCheck("nosvc", connect_timeout=0.2)
    try:
        with pytest.raises(ValueError, match="names the master's service"):
            check.run()
        assert check.client is None and check.sentinels == []  # nothing half-built is kept
    finally:
        check.close()


def test_dict_spec_overrides_a_decorated_function() -> None:
    s = HealthSettings()
    check = build_one(
        {"check": "tests.health.checks_for_tests.optional_gateway", "critical": True}, s
    )
    assert check.critical is True and check.name == "optional_gateway"
    from tests.health.checks_for_tests import optional_gateway

    assert optional_gateway.critical is False  # the module's object is untouched
    with pytest.raises(ValueError):
        build_one({"check": "tests.health.checks_for_tests.plain_ok", "alias": "x"}, s)


def test_celery_kombu_transports(hung_listener: Any) -> None:
    assert CeleryBrokerCheck(url="memory://", connect_timeout=1.0).run() is not None
    hung = CeleryBrokerCheck(url=f"amqp://127.0.0.1:{hung_listener.port}//", connect_timeout=1.0)
    with pytest.raises(Exception) as info:
        hung.run()
    assert "timed out" in sanitize(info.value)
