"""Core system checks: ``manage.py check`` finds misconfiguration first.

Ids are stable and listed in ``docs/checks.md``:

* ``opskit.E001`` unknown key in ``OPSKIT`` (with a "did you mean").
* ``opskit.E002`` a value of the wrong type.
* ``opskit.E003`` an invalid CIDR range in ``TRUSTED_PROXIES``.
* ``opskit.E004`` an invalid ``REQUEST_ID_HEADER`` or ``FORWARDED_HEADER``.
* ``opskit.W001`` ``OpsKitMiddleware`` is not in ``MIDDLEWARE``.
* ``opskit.W002`` ``OpsKitMiddleware`` is not above Django's middleware.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning

from .client import parse_networks
from .conf import _load

__all__ = ["check_middleware", "check_settings", "register_checks"]

MIDDLEWARE_PATH = "opskit.middleware.OpsKitMiddleware"
_HEADER_RE = re.compile(r"[A-Za-z0-9-]{1,64}")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    _load.cache_clear()
    s, problems = _load()
    errors: list[Any] = [Error(msg, id=cid) for cid, msg in problems]
    try:
        parse_networks(s.TRUSTED_PROXIES)
    except ValueError as exc:
        errors.append(
            Error(
                f"OPSKIT TRUSTED_PROXIES has an invalid CIDR range: {exc}.",
                hint="Use ranges such as '10.0.0.0/8' or '2001:db8::/32'.",
                id="opskit.E003",
            )
        )
    for key in ("REQUEST_ID_HEADER", "FORWARDED_HEADER"):
        value = getattr(s, key)
        if not _HEADER_RE.fullmatch(value):
            errors.append(
                Error(
                    f"OPSKIT {key} {value!r} is not a valid HTTP header name.",
                    hint="Letters, digits and '-' only, e.g. 'X-Request-ID'.",
                    id="opskit.E004",
                )
            )
    return errors


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        return [
            Warning(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: opskit measures nothing.",
                hint=f"Add {MIDDLEWARE_PATH!r} as the first entry of MIDDLEWARE.",
                id="opskit.W001",
            )
        ]
    index = middleware.index(MIDDLEWARE_PATH)
    above = [m for m in middleware[:index] if not m.startswith("opskit.")]
    if above:
        return [
            Warning(
                f"{MIDDLEWARE_PATH} comes after {', '.join(above)}.",
                hint=(
                    "Put it first: it must time the whole request and answer "
                    "health probes before ALLOWED_HOSTS, redirects and "
                    "authentication see them."
                ),
                id="opskit.W002",
            )
        ]
    return []


def register_checks(register: Callable[..., Any]) -> None:
    register(check_settings, "opskit")
    register(check_middleware, "opskit")
