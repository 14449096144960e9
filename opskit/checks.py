"""Core system checks: ``manage.py check`` finds misconfiguration first.

Ids are stable and listed in ``docs/checks.md``:

* ``opskit.E001`` unknown key in ``OPSKIT`` (with a "did you mean").
* ``opskit.E002`` a value of the wrong type.
* ``opskit.E003`` an invalid CIDR range in ``TRUSTED_PROXIES``.
* ``opskit.E004`` an invalid ``REQUEST_ID_HEADER`` or ``FORWARDED_HEADER``.
* ``opskit.E005`` ``OpsKitMiddleware`` is not in ``MIDDLEWARE`` while request
  logging, metrics or the query monitor is on: every request goes unrecorded.
* ``opskit.W001`` ``OpsKitMiddleware`` is not in ``MIDDLEWARE`` (those three are
  off, so only the probes it answers and the global slow-request check are lost).
* ``opskit.W002`` ``OpsKitMiddleware`` is not above Django's middleware.

The reverse, the middleware without ``"opskit"`` in ``INSTALLED_APPS``, cannot be
a check (checks are registered by the app); the middleware itself raises
``ImproperlyConfigured`` when the server loads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning

from .client import parse_networks
from .conf import get_settings, loaded

__all__ = ["check_middleware", "check_settings", "invalid_networks", "register_checks"]


def invalid_networks(values: Any, setting: str, check_id: str, hint: str) -> list[Any]:
    """The one error of a CIDR-list setting with a bad entry (``[]`` when all
    parse): every capability's network lists are checked alike."""
    try:
        parse_networks(values)
    except ValueError as exc:
        return [
            Error(f"OPSKIT {setting} has an invalid CIDR range: {exc}.", hint=hint, id=check_id)
        ]
    return []


MIDDLEWARE_PATH = "opskit.middleware.OpsKitMiddleware"
_HEADER_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
#: Hints of the problems :func:`opskit.conf.validate` finds (the message
#: already names the key and, for E001, the closest known one).
_PROBLEM_HINTS = {
    "opskit.E001": (
        "Keys are upper case; the settings reference (docs/settings.md) lists every "
        "one. An unknown key is ignored, so its setting keeps the default."
    ),
    "opskit.E002": (
        "Use the type the settings reference (docs/settings.md) gives; the default "
        "is used meanwhile."
    ),
}


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    loaded.cache_clear()
    s, _, problems = loaded()
    errors: list[Any] = [Error(msg, hint=_PROBLEM_HINTS.get(cid), id=cid) for cid, msg in problems]
    errors += invalid_networks(
        s.TRUSTED_PROXIES,
        "TRUSTED_PROXIES",
        "opskit.E003",
        "Use ranges such as '10.0.0.0/8' or '2001:db8::/32'.",
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


def _and(items: list[str]) -> str:
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else items[0]


def check_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        s = get_settings()
        losing = [
            name
            for name, on in (
                ("request logging", s.LOGGING.ENABLED),
                ("metrics", s.METRICS.ENABLED),
                ("the query monitor", s.QUERIES.ENABLED),
            )
            if on
        ]
        if losing:
            return [
                Error(
                    f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: {_and(losing)} "
                    "record nothing (no request line, no request metrics, no query counts).",
                    hint=(
                        f"Put it first: MIDDLEWARE = [{MIDDLEWARE_PATH!r}, *MIDDLEWARE]. "
                        "Using only opskit's decorators? Turn those capabilities off "
                        "(OPSKIT LOGGING / METRICS / QUERIES 'ENABLED': False)."
                    ),
                    id="opskit.E005",
                )
            ]
        return [
            Warning(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: the health PATHS are not "
                "answered before the rest of the stack and the global slow-request "
                "threshold is not checked.",
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
