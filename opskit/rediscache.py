"""What opskit reads from a django-redis cache alias's settings (no I/O).

The rate limiter and the Redis health check each build their own redis-py
client from the alias (their own timeouts, no retries), so both must read a
Sentinel alias the way django-redis does: ``LOCATION`` is
``redis://<service>/<db>`` and ``OPTIONS["SENTINELS"]`` lists the sentinels.
One reading, here, so that a mistake is named the same way by the system
checks (``opskit.E307``, ``opskit.E505``), by the limiter's ERROR and by the
probe, and never turns into a client for the master of service ``""``, which
no sentinel knows: that failed every decision as if Redis were down.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "SentinelLocationError",
    "cache_config",
    "locations",
    "sentinel_master",
    "uses_sentinel",
]


class SentinelLocationError(ImproperlyConfigured, ValueError):
    """A Sentinel alias whose ``LOCATION`` does not name the master's service."""


def cache_config(alias: str) -> dict[str, Any]:
    """``CACHES[alias]`` (``KeyError`` when the alias is missing)."""
    from django.conf import settings

    caches: Any = settings.CACHES
    return dict(caches[alias])


def locations(config: dict[str, Any]) -> list[str]:
    """The alias's ``LOCATION`` as a list (a string may hold several, comma-separated)."""
    location = config.get("LOCATION") or []
    if isinstance(location, str):
        location = location.split(",")
    return [str(loc).strip() for loc in location if str(loc).strip()]


def uses_sentinel(config: dict[str, Any]) -> bool:
    """Whether the alias uses django-redis's Sentinel support."""
    options = config.get("OPTIONS") or {}
    names = f"{options.get('CLIENT_CLASS', '')} {options.get('CONNECTION_FACTORY', '')}"
    return "Sentinel" in names or bool(options.get("SENTINELS"))


def sentinel_master(config: dict[str, Any]) -> tuple[str, int]:
    """The service and database a Sentinel alias names: ``redis://<service>/<db>``.

    Raises :class:`SentinelLocationError` (a ``ValueError`` and Django's
    ``ImproperlyConfigured``) with the fix when no service is named, or the
    database is not a number.
    """
    found = locations(config)
    url = found[0] if found else ""
    hint = "a Sentinel LOCATION names the master's service: redis://<service>/<db>"
    if not url:
        raise SentinelLocationError(f"{hint} (LOCATION is empty)")
    parts = urlsplit(url if "://" in url else f"redis://{url}")
    if not parts.hostname:
        raise SentinelLocationError(f"{hint} ({url!r} names none)")
    db = parts.path.strip("/") or "0"
    if not db.isdigit():
        raise SentinelLocationError(f"{hint} ({url!r}: the database {db!r} is not a number)")
    return parts.hostname, int(db)
