"""System checks for the health endpoints (``opskit.E5xx`` / ``opskit.W5xx``).

The middleware order itself is the core's ``opskit.W002``; these cover what
only the health capability knows:

* ``opskit.E501`` a ``HEALTH.CHECKS`` entry cannot become a check.
* ``opskit.E502`` ``HEALTH.DETAILS`` is not never/when-authorized/always.
* ``opskit.E503`` ``HEALTH.PATHS`` (or ``LIVE_PATHS``/``STARTUP_PATHS``) is
  malformed.
* ``opskit.E504`` ``DEADLINE``, ``TTL`` or ``PROBE_TIMEOUT`` is not positive.
* ``opskit.E505`` a Redis check's cache alias uses Sentinel but its ``LOCATION``
  names no master service.
* ``opskit.W501`` a project URL pattern is shadowed by a health path.
* ``opskit.W502`` ``DETAILS = "always"`` shows internals to anyone.
* ``opskit.W503`` the deadline (or a check's timeout) does not fit
  Kubernetes' default 1 s probe timeout.
* ``opskit.W504`` a PostgreSQL alias has no ``connect_timeout``: a request
  connecting to an unreachable server holds its worker for minutes, and
  enough of them leave none for ``/livez``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings as dj_settings
from django.core.checks import Error, Warning

from ..conf import get_settings

__all__ = ["DETAILS_VALUES", "check_health", "register_checks"]

DETAILS_VALUES = ("never", "when-authorized", "always")
_MIDDLEWARE = "opskit.middleware.OpsKitMiddleware"


def _paths(s: Any) -> list[Any]:
    errors: list[Any] = []
    bad = [p for p in s.PATHS if not p.startswith("/") or p == "/" or "?" in p or " " in p]
    dupes = sorted({p for p in s.PATHS if s.PATHS.count(p) > 1})
    stray = [p for p in [*s.LIVE_PATHS, *s.STARTUP_PATHS] if p not in s.PATHS]
    for label, items in (
        ("must be absolute paths other than '/' without a query", bad),
        ("are listed twice", dupes),
        ("are in LIVE_PATHS/STARTUP_PATHS but not in PATHS", stray),
    ):
        if items:
            errors.append(
                Error(
                    f"OPSKIT HEALTH paths {', '.join(map(repr, items))} {label}.",
                    hint="PATHS lists every health path, e.g. ['/livez', '/readyz'].",
                    id="opskit.E503",
                )
            )
    return errors


def _shadowed(s: Any) -> list[Any]:
    if _MIDDLEWARE not in list(getattr(dj_settings, "MIDDLEWARE", None) or []):
        return []
    from django.apps import apps

    if not apps.ready:  # run from AppConfig.ready(): the URLconf must wait
        return []
    from django.urls import Resolver404, resolve

    shadowed = []
    for path in s.PATHS:
        try:
            match = resolve(path)
        except Resolver404:
            continue
        except Exception:  # a broken URLconf is Django's own check's business
            return []
        module = getattr(match.func, "__module__", "") or ""
        if not module.startswith("opskit."):
            shadowed.append(f"{path} ({match._func_path})")
    if not shadowed:
        return []
    return [
        Warning(
            f"Health paths shadow project URLs that will never be reached: {', '.join(shadowed)}.",
            hint="Rename the project's URL, or change OPSKIT['HEALTH']['PATHS'].",
            id="opskit.W501",
        )
    ]


def _unbounded_connects() -> list[Any]:
    import os

    if os.environ.get("PGCONNECT_TIMEOUT"):
        return []
    from django.db import connections

    databases: dict[str, Any] = connections.settings
    aliases = [
        alias
        for alias, cfg in databases.items()
        if "postgresql" in str(cfg.get("ENGINE", ""))
        and not (cfg.get("OPTIONS") or {}).get("connect_timeout")
    ]
    if not aliases:
        return []
    return [
        Warning(
            f"DATABASES {', '.join(map(repr, aliases))} (PostgreSQL) set no connect_timeout: a "
            "request connecting to an unreachable server waits for the kernel (minutes) and "
            "holds its worker; enough of them leave no worker for /livez.",
            hint='Set OPTIONS {"connect_timeout": 2} (and a statement_timeout); see '
            "docs/operations/servers.md.",
            id="opskit.W504",
        )
    ]


def _sentinel_locations(built: list[Any]) -> list[Any]:
    """A Redis check on a Sentinel alias needs the master's service in LOCATION."""
    from ..rediscache import SentinelLocationError, cache_config, sentinel_master
    from .builtin import RedisCheck

    errors: list[Any] = []
    for check in built:
        if not isinstance(check, RedisCheck):
            continue
        try:
            config = cache_config(check.alias)
        except Exception:
            continue  # a missing alias fails the check itself, by name
        if not (config.get("OPTIONS") or {}).get("SENTINELS"):
            continue
        try:
            sentinel_master(config)
        except SentinelLocationError as exc:
            errors.append(
                Error(
                    f"OPSKIT HEALTH check {check.name!r}: {exc}; the check fails on every "
                    "probe until it does.",
                    hint="Set the cache's LOCATION to 'redis://<service>/<db>', e.g. "
                    "'redis://mymaster/0'.",
                    id="opskit.E505",
                )
            )
    return errors


def check_health(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    s = get_settings().HEALTH
    if not s.ENABLED:
        return []
    errors: list[Any] = []
    from .registry import build_checks

    problems: list[str] = []
    built = build_checks(s, problems)
    for problem in problems:
        errors.append(
            Error(
                f"OPSKIT HEALTH CHECKS: {problem}",
                hint="Use a built-in name ('database:default', 'redis:cache', 'disk:/', "
                "'memory', 'migrations'), a dotted path to a Check class or "
                "@health_check function, or {'check': ..., **options}.",
                id="opskit.E501",
            )
        )
    if s.DETAILS not in DETAILS_VALUES:
        errors.append(
            Error(
                f"OPSKIT HEALTH DETAILS {s.DETAILS!r} is not one of {', '.join(DETAILS_VALUES)}; "
                "details are never shown meanwhile.",
                hint="Use 'when-authorized' with a TOKEN, or 'never'.",
                id="opskit.E502",
            )
        )
    errors += _paths(s)
    for key in ("DEADLINE", "TTL", "PROBE_TIMEOUT"):
        if not getattr(s, key) > 0:
            errors.append(
                Error(
                    f"OPSKIT HEALTH {key} must be a positive number of seconds.",
                    id="opskit.E504",
                )
            )
    errors += _shadowed(s)
    errors += _unbounded_connects()
    errors += _sentinel_locations(built)
    if s.DETAILS == "always":
        errors.append(
            Warning(
                "OPSKIT HEALTH DETAILS is 'always': anyone reaching a health path sees check "
                "names, timings and error classes.",
                hint="Use 'when-authorized' with a TOKEN (or staff users on the routed views).",
                id="opskit.W502",
            )
        )
    slow = [("DEADLINE", s.DEADLINE)] if s.DEADLINE >= 1.0 else []
    slow += [
        (f"check {c.name!r} timeout", c.timeout)
        for c in built
        if c.timeout is not None and c.timeout >= 1.0
    ]
    if slow:
        errors.append(
            Warning(
                f"OPSKIT HEALTH {', '.join(f'{k} = {v:g} s' for k, v in slow)} does not fit "
                "Kubernetes' default probe timeout (1 s): the kubelet gives up before the "
                "answer and counts a failure.",
                hint="Keep it below the probe's timeoutSeconds (0.9 s for the default 1 s).",
                id="opskit.W503",
            )
        )
    return errors


def register_checks(register: Callable[..., Any]) -> None:
    register(check_health, "opskit")
