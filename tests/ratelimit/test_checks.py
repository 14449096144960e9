"""One test per system check id (opskit.E301-E305, W301-W302)."""

from __future__ import annotations

from typing import Any

import pytest

from opskit.checks import check_settings as check_core_settings
from opskit.ratelimit import RateLimitMixin, ratelimit
from opskit.ratelimit.checks import check_declared, check_settings
from opskit.ratelimit.core import DECLARED

from .conftest import rl_settings


def _ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


#: The ratelimit conftest flushes the shared Redis around every test.
pytestmark = pytest.mark.redis


@pytest.fixture
def declared() -> Any:
    before = list(DECLARED)
    yield DECLARED
    DECLARED[:] = before


def test_e301_invalid_rate_on_mixin(declared: Any) -> None:
    class BadRate(RateLimitMixin):
        rate = "100/fortnight"

    errors = [e for e in check_declared() if e.obj.endswith("BadRate")]
    assert _ids(errors) == ["opskit.E301"]
    assert "100/fortnight" in errors[0].msg


def test_decorator_raises_value_error_and_check_reports(declared: Any) -> None:
    with pytest.raises(ValueError, match="invalid rate 'ten/s'"):

        @ratelimit(rate="ten/s")
        def view(request: Any) -> None: ...

    assert "opskit.E301" in _ids(check_declared())


def test_e302_invalid_key(declared: Any) -> None:
    class BadKey(RateLimitMixin):
        rate = "1/s"
        key = "cookie"

    errors = [e for e in check_declared() if e.obj.endswith("BadKey")]
    assert _ids(errors) == ["opskit.E302"]
    with pytest.raises(ValueError, match="unknown ratelimit key"):
        ratelimit(rate="1/s", key="cookie")(lambda request: None)


def test_valid_declarations_pass(declared: Any) -> None:
    class Good(RateLimitMixin):
        rate = "10/s;1000/h"
        key = "header:X-Api-Key"

    assert [e for e in check_declared() if e.obj.endswith("Good")] == []


def test_e303_allow_list(settings: Any) -> None:
    settings.OPSKIT = rl_settings(ALLOW_LIST=["10.0.0.0/33"])
    assert "opskit.E303" in _ids(check_settings())


def test_e304_values_out_of_range(settings: Any) -> None:
    settings.OPSKIT = rl_settings(BACKEND="memcache", HEADERS="draft", TOPOLOGY="ring")
    # The typed settings report the enum-like values, under the same id.
    assert _ids(check_core_settings()) == ["opskit.E304"] * 3
    assert _ids(check_settings()) == []
    settings.OPSKIT = rl_settings(IPV6_PREFIX=200, BREAKER_THRESHOLD=0)
    assert _ids(check_settings()) == ["opskit.E304", "opskit.E304"]


def test_e305_redis_backend_needs_django_redis(settings: Any, declared: Any) -> None:
    class Limited(RateLimitMixin):
        rate = "1/s"

    settings.OPSKIT = rl_settings(CACHE="default")  # LocMem in the test settings
    assert _ids(check_settings()) == ["opskit.E305"]
    settings.OPSKIT = rl_settings(CACHE="nope")
    assert _ids(check_settings()) == ["opskit.E305"]
    declared.clear()  # nothing limited anywhere: no Redis needed
    assert _ids(check_settings()) == []


def test_w301_unshared_cache(settings: Any) -> None:
    settings.OPSKIT = rl_settings(BACKEND="cache", CACHE="default")
    assert _ids(check_settings()) == ["opskit.W301"]
    settings.OPSKIT = rl_settings(BACKEND="cache", CACHE="redis")
    assert _ids(check_settings()) == []


def test_w302_long_socket_timeout(settings: Any) -> None:
    settings.OPSKIT = rl_settings(SOCKET_TIMEOUT=5.0)
    assert _ids(check_settings()) == ["opskit.W302"]


def test_defaults_clean(settings: Any) -> None:
    assert check_settings() == []


def test_rate_parsing() -> None:
    from opskit.ratelimit import parse_rates

    assert [(r.limit, r.period) for r in parse_rates("100/h;5/15m; 10/s ;1000/d")] == [
        (100, 3600.0),
        (5, 900.0),
        (10, 1.0),
        (1000, 86400.0),
    ]
    for bad in ("", "10", "10/x", "0/s", "10/s;10/s", "-1/s", "10/30d", 10):
        with pytest.raises(ValueError):
            parse_rates(bad)  # type: ignore[arg-type]
