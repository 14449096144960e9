"""Every option each way of declaring a limit accepts reaches its ``Limiter``.

The decorator, the mixin, the DRF throttle and ``decide`` each take the
options in their own form; the tests read which ones from the code itself
(signatures, class attributes), so an option added to one of them and not
passed on fails here.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.views import View

from opskit.ratelimit import (
    Limiter,
    LimitOptions,
    RateLimitMixin,
    adecide,
    core,
    decide,
    ratelimit,
)
from opskit.ratelimit.options import DEFAULTS

pytestmark = pytest.mark.redis


def never_exempt(request: HttpRequest) -> bool:
    return False


#: A value other than the default for every option.
NON_DEFAULT: dict[str, Any] = {
    "key": "ip",
    "scope": "options-test",
    "methods": ("POST", "PUT"),
    "cost": 3,
    "burst": 7,
    "strict": True,
    "fail_open": False,
    "shadow": True,
    "exempt": never_exempt,
    "exempt_staff": True,
    "block": False,
}


@pytest.fixture(autouse=True)
def declared() -> Iterator[None]:
    """Classes and views declared here leave the system check's registry as it was."""
    before = list(core.DECLARED)
    yield
    core.DECLARED[:] = before


def _class_options(cls: type[Any]) -> dict[str, Any]:
    """A non-default value for every option ``cls`` declares as a class attribute."""
    return {name: value for name, value in NON_DEFAULT.items() if hasattr(cls, name)}


def test_the_non_default_values_cover_every_option() -> None:
    assert NON_DEFAULT.keys() == {f.name for f in dataclasses.fields(LimitOptions)}
    same = [name for name, value in NON_DEFAULT.items() if getattr(DEFAULTS, name) == value]
    assert same == []


def test_every_decorator_option_reaches_the_limiter() -> None:
    params = set(inspect.signature(ratelimit).parameters) - {"rate"}
    assert params == NON_DEFAULT.keys()

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    limiter = ratelimit("5/m", **NON_DEFAULT)(view).ratelimiter
    assert limiter.options == LimitOptions(**NON_DEFAULT)
    # ... and the limiter acts on them.
    assert (limiter.key_spec, limiter.scope, limiter.cost) == ("ip", "options-test", 3)
    assert limiter.methods == frozenset({"POST", "PUT"})
    assert (limiter.strict, limiter.fail_open, limiter.shadow) == (True, False, True)
    assert (limiter.exempt, limiter.exempt_staff, limiter.block) == (never_exempt, True, False)

    where = f"{view.__module__}.{view.__qualname__}"
    plain = ratelimit("5/m")(view).ratelimiter
    assert plain.options == dataclasses.replace(DEFAULTS, scope=where)


def test_every_mixin_option_reaches_the_limiter() -> None:
    options = _class_options(RateLimitMixin)
    assert options.keys() == NON_DEFAULT.keys() - {"exempt"}
    view = type("OptionsView", (RateLimitMixin, View), {"rate": "5/m", **options})
    limiter = view.get_ratelimiter()
    assert limiter is not None
    assert limiter.options == LimitOptions(**options)

    plain = type("PlainView", (RateLimitMixin, View), {"rate": "5/m"}).get_ratelimiter()
    assert plain is not None
    assert plain.options == dataclasses.replace(DEFAULTS, scope=f"{__name__}.PlainView")


def test_every_throttle_option_reaches_the_limiter() -> None:
    from opskit.ratelimit.drf import OpsKitThrottle

    options = _class_options(OpsKitThrottle)
    assert options.keys() == {
        "key",
        "scope",
        "cost",
        "strict",
        "fail_open",
        "shadow",
        "exempt_staff",
    }
    throttle = type("OptionsThrottle", (OpsKitThrottle,), {"rate": "5/m", **options})
    assert throttle.get_ratelimiter().options == LimitOptions(**options)

    plain = type("PlainThrottle", (OpsKitThrottle,), {"rate": "5/m"}).get_ratelimiter()
    assert plain.options == dataclasses.replace(DEFAULTS, scope=f"{__name__}.PlainThrottle")


async def test_every_decide_option_reaches_the_cached_limiter() -> None:
    params = list(inspect.signature(decide).parameters)
    assert params == list(inspect.signature(adecide).parameters)
    options = {name: NON_DEFAULT[name] for name in params[2:]}
    assert params[:2] == ["request_or_key", "rate"] and options.keys() <= NON_DEFAULT.keys()

    core._limiter.cache_clear()
    decision = await adecide("options-client", "5/m", **options)
    assert (decision.outcome, decision.scope, decision.fail_open) == (
        "allowed",
        "options-test",
        False,
    )
    assert decide("options-client", "5/m", **{**options, "burst": [7]}).outcome == "shadow"
    # Two sets of options (``burst=[7]`` is not ``burst=7``), two limiters;
    # the first set again finds its limiter: the cache is keyed on the options.
    info = core._limiter.cache_info()
    assert (info.currsize, info.hits) == (2, 0)
    limiter = core._limiter("5/m", LimitOptions(**options))
    assert core._limiter.cache_info().hits == 1
    assert limiter.options == LimitOptions(**options)
    assert LimitOptions(burst=[7]) == LimitOptions(burst=(7,))
    assert hash(LimitOptions(methods=["GET"])) == hash(LimitOptions(methods=("GET",)))


def test_a_misspelt_option_is_a_type_error_naming_it() -> None:
    misspelt: dict[str, Any] = {"scop": "login"}
    message = "unexpected keyword argument 'scop'"
    with pytest.raises(TypeError, match=message):
        ratelimit("5/m", **misspelt)
    with pytest.raises(TypeError, match=message):
        decide("options-client", "5/m", **misspelt)
    with pytest.raises(TypeError, match=message):
        Limiter("5/m", **misspelt)
    with pytest.raises(TypeError, match=message):
        LimitOptions(**misspelt)
    with pytest.raises(TypeError, match="not both"):
        Limiter("5/m", LimitOptions(), scope="login")
    # The spellings that were right still are, ``rate=`` by keyword too.
    assert Limiter(rate="5/m", scope="login").options == LimitOptions(scope="login")


def test_bad_values_are_value_errors() -> None:
    with pytest.raises(ValueError, match="cost must be a non-negative integer"):
        LimitOptions(cost=-1)
    with pytest.raises(ValueError, match="scope must be a non-empty string"):
        Limiter("5/m", scope="")
    with pytest.raises(ValueError, match="burst needs one value per limit"):
        Limiter("5/m;100/h", burst=[3])
