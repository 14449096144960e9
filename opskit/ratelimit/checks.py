"""Rate limiting system checks (``opskit.E3xx`` / ``W3xx``, see docs/checks.md).

* ``opskit.E301`` an invalid rate declared on a view, mixin or throttle.
* ``opskit.E302`` an invalid key declared on a view, mixin or throttle.
* ``opskit.E303`` an invalid CIDR range in ``RATELIMIT.ALLOW_LIST``.
* ``opskit.E304`` a ``RATELIMIT`` value out of range (``IPV6_PREFIX``,
  ``BREAKER_*``; ``BACKEND``, ``HEADERS`` and ``TOPOLOGY`` are reported by the
  typed settings, ``opskit.conf``, under the same id).
* ``opskit.E305`` limits are declared but the ``CACHE`` alias is missing or not django-redis.
* ``opskit.E306`` ``RATELIMIT.TOPOLOGY`` does not match the server (a Cluster
  node without ``TOPOLOGY="cluster"``, or ``"cluster"`` on a plain server).
* ``opskit.E307`` the ``CACHE`` alias uses Sentinel but its ``LOCATION`` names
  no master service (``redis://<service>/<db>``).
* ``opskit.W301`` the ``cache`` backend on a cache that is not shared or atomic.
* ``opskit.W302`` ``SOCKET_TIMEOUT`` is not in (0, 1] s: a hung Redis stalls requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning

from ..checks import invalid_networks
from ..conf import get_settings
from .core import DECLARED
from .keys import resolve_key
from .rates import parse_rates

__all__ = ["check_declared", "check_settings", "register_checks"]

#: Cache backends that are per process, not shared or not atomic.
UNSHARED_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.db.DatabaseCache",
)


def _load_urlconf() -> None:
    """Import the views (decoration fills the registry); errors are not ours."""
    from django.apps import apps

    if not apps.ready:  # run from AppConfig.ready(): admin.autodiscover() may not have run
        return
    try:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018
    except Exception:
        pass


def check_declared(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    _load_urlconf()
    errors: list[Any] = []
    seen: set[tuple[str, str, str]] = set()
    for where, rate, key in list(DECLARED):
        ident = (where, repr(rate), repr(key))
        if ident in seen:
            continue
        seen.add(ident)
        if rate is not None:
            try:
                parse_rates(rate)
            except ValueError as exc:
                errors.append(
                    Error(
                        f"{where}: {exc}.",
                        hint="Rates look like '100/h', '5/15m', '10/s', '1000/d' or '10/s;1000/h'.",
                        obj=where,
                        id="opskit.E301",
                    )
                )
        try:
            resolve_key(key)
        except ValueError as exc:
            errors.append(
                Error(
                    f"{where}: {exc}.",
                    hint="Use 'ip', 'user', 'user_or_ip', 'header:<name>', a callable or a dotted path.",
                    obj=where,
                    id="opskit.E302",
                )
            )
    return errors


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    s = get_settings().RATELIMIT
    if not s.ENABLED:
        return []
    errors: list[Any] = invalid_networks(
        s.ALLOW_LIST,
        "RATELIMIT.ALLOW_LIST",
        "opskit.E303",
        "Use ranges such as '10.0.0.0/8'; nothing is allow-listed until fixed.",
    )
    if not 0 < s.IPV6_PREFIX <= 128:
        errors.append(
            Error(
                f"OPSKIT RATELIMIT.IPV6_PREFIX {s.IPV6_PREFIX} is not a prefix length (1-128); "
                "64 is used meanwhile.",
                id="opskit.E304",
            )
        )
    if s.BREAKER_THRESHOLD < 1 or s.BREAKER_COOLDOWN < 0:
        errors.append(
            Error(
                "OPSKIT RATELIMIT.BREAKER_THRESHOLD must be at least 1 and "
                "BREAKER_COOLDOWN not negative.",
                id="opskit.E304",
            )
        )
    caches = getattr(settings, "CACHES", {}) or {}
    conf = caches.get(s.CACHE)
    backend = str((conf or {}).get("BACKEND", ""))
    _load_urlconf()
    # A project that limits nothing needs no Redis: say so only when a
    # limit is declared somewhere.
    if DECLARED and s.BACKEND == "redis" and not backend.startswith("django_redis."):
        errors.append(
            Error(
                f"OPSKIT RATELIMIT.CACHE {s.CACHE!r} is "
                + ("not in CACHES" if conf is None else f"a {backend}, not a django-redis cache")
                + "; every decision fails (open or closed).",
                hint="Point CACHE at a django_redis.cache.RedisCache alias, or set BACKEND='cache'.",
                id="opskit.E305",
            )
        )
    if DECLARED and s.BACKEND == "redis" and backend.startswith("django_redis."):
        sentinel = _check_sentinel(s.CACHE, s.TOPOLOGY)
        errors.extend(sentinel or _check_topology(s.CACHE, s.TOPOLOGY, s.SOCKET_TIMEOUT))
    if s.BACKEND == "cache":
        if conf is None:
            errors.append(
                Error(f"OPSKIT RATELIMIT.CACHE {s.CACHE!r} is not in CACHES.", id="opskit.E305")
            )
        elif backend in UNSHARED_CACHES:
            errors.append(
                Warning(
                    f"The rate limiter counts in {backend} (cache {s.CACHE!r}): it is not "
                    "shared or not atomic across processes, so each worker admits its own "
                    "quota.",
                    hint="Use BACKEND='redis' with a django-redis cache in production.",
                    id="opskit.W301",
                )
            )
    if s.BACKEND == "redis" and not 0 < s.SOCKET_TIMEOUT <= 1.0:
        errors.append(
            Warning(
                f"OPSKIT RATELIMIT.SOCKET_TIMEOUT is {s.SOCKET_TIMEOUT} s: a hung Redis "
                "would stall limited requests that long before the breaker opens.",
                hint="Keep it about 0.5 s (docs/ratelimit.md, 'Timeouts and the breaker').",
                id="opskit.W302",
            )
        )
    return errors


def _check_sentinel(alias: str, setting: str) -> list[Any]:
    """A Sentinel alias must name its master's service (settings only, no I/O)."""
    from ..rediscache import SentinelLocationError, cache_config, sentinel_master
    from .backends import redis_topology

    if setting not in ("auto", "single", "sentinel", "cluster"):
        return []  # reported as E304
    if redis_topology(alias, setting) != "sentinel":
        return []
    try:
        sentinel_master(cache_config(alias))
    except SentinelLocationError as exc:
        return [
            Error(
                f"OPSKIT RATELIMIT.CACHE {alias!r}: {exc}; every decision fails (open or "
                "closed) until it does.",
                hint="Set LOCATION to 'redis://<service>/<db>', e.g. 'redis://mymaster/0', "
                "with the sentinels in OPTIONS['SENTINELS'].",
                id="opskit.E307",
            )
        ]
    return []


def _check_topology(alias: str, setting: str, timeout: float) -> list[Any]:
    """Ask the server whether it is a Cluster node (one short-timeout ``INFO``)."""
    from .backends import cluster_enabled, redis_topology

    if setting not in ("auto", "single", "sentinel", "cluster"):
        return []  # reported as E304
    try:
        topology = redis_topology(alias, setting)
        enabled = cluster_enabled(alias, topology, min(max(timeout, 0.05), 1.0))
    except Exception:
        return []  # an alias django-redis cannot build is E305's business
    if enabled is None or enabled == (topology == "cluster"):
        return []
    if enabled:
        msg = (
            f"OPSKIT RATELIMIT.CACHE {alias!r} points at a Redis Cluster node but the "
            f"limiter's topology is {topology!r}: decisions for keys on other nodes "
            "fail with MOVED (open or closed)."
        )
        hint = "Set OPSKIT['RATELIMIT']['TOPOLOGY'] = 'cluster' and list the nodes in LOCATION."
    else:
        msg = (
            f"OPSKIT RATELIMIT.TOPOLOGY is 'cluster' but the server of cache {alias!r} "
            "is not in Cluster mode: every decision fails (open or closed)."
        )
        hint = "Set TOPOLOGY to 'auto' (a single node or Sentinel) or point CACHE at a Cluster."
    return [Error(msg, hint=hint, id="opskit.E306")]


def register_checks(register: Callable[..., Any]) -> None:
    register(check_settings, "opskit")
    register(check_declared, "opskit")
