"""From ``HEALTH.CHECKS`` to check objects.

A spec is one of:

* a built-in name, optionally with its argument: ``"database"``,
  ``"database:replica"``, ``"cache:sessions"``, ``"redis:default"``,
  ``"disk:/var/lib/app"``, ``"memory"``, ``"migrations"``, ``"celery"``;
* a dotted path to a :class:`~opskit.health.base.Check` subclass, a check
  object (e.g. a function decorated with ``@health_check``) or a plain
  function;
* a dict ``{"check": <one of the above>, **options}``, options being the
  constructor's keyword arguments (``name``, ``critical``, ``timeout``,
  ``groups``, ``alias``, ``path``, ``warn_percent``...);
* a check class or object itself.

``CHECKS = None`` derives the checks: every database alias, every cache alias
(django-redis ones are PINGed), disk and memory, pending migrations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django.utils.module_loading import import_string

from ..conf import HealthSettings, did_you_mean
from . import builtin
from .base import Check, FunctionCheck

__all__ = ["BUILTIN_NAMES", "SpecError", "build_checks", "build_one", "derived_specs"]


class SpecError(ValueError):
    """A ``CHECKS`` entry that cannot become a check."""


#: Built-in names -> (class, keyword that takes the ``name:argument`` part).
BUILTIN_NAMES: dict[str, tuple[type[Check], str | None]] = {
    "database": (builtin.DatabaseCheck, "alias"),
    "cache": (builtin.CacheCheck, "alias"),
    "redis": (builtin.RedisCheck, "alias"),
    "disk": (builtin.DiskCheck, "path"),
    "memory": (builtin.MemoryCheck, None),
    "migrations": (builtin.MigrationsCheck, "alias"),
    "celery": (builtin.CeleryBrokerCheck, "url"),
    "celery.workers": (builtin.CeleryWorkersCheck, "app"),
}


#: Options any check object accepts (a decorated function in a dict spec).
_COMMON_OPTIONS = frozenset({"name", "critical", "timeout", "groups"})


def _defaults_for(cls: type[Any], settings: HealthSettings) -> dict[str, Any]:
    if cls in (
        builtin.DatabaseCheck,
        builtin.RedisCheck,
        builtin.MigrationsCheck,
        builtin.CeleryBrokerCheck,
        builtin.CeleryWorkersCheck,
    ):
        return {"connect_timeout": settings.PROBE_TIMEOUT}
    if cls is builtin.DiskCheck:
        return {"warn_percent": settings.DISK_WARN_PERCENT}
    if cls is builtin.MemoryCheck:
        return {"warn_percent": settings.MEMORY_WARN_PERCENT}
    return {}


def _instantiate(target: Any, options: dict[str, Any], settings: HealthSettings) -> Check:
    if isinstance(target, Check):
        if not options:
            return target
        unknown = set(options) - _COMMON_OPTIONS
        if unknown:
            raise SpecError(
                f"{target!r} is a check object; it takes only {sorted(_COMMON_OPTIONS)}"
            )
        clone = copy.copy(target)
        Check.__init__(clone, **options)  # validates name, timeout and groups
        return clone
    if isinstance(target, type) and issubclass(target, Check):
        kwargs = {**_defaults_for(target, settings), **options}
        try:
            return target(**kwargs)
        except TypeError as exc:
            raise SpecError(f"{target.__name__}: {exc}") from None
    if callable(target):
        func: Callable[[], float | None] = target
        return FunctionCheck(func, **options)
    raise SpecError(f"{target!r} is not a check class, check object or function")


def _resolve(ref: Any) -> tuple[Any, dict[str, Any]]:
    if not isinstance(ref, str):
        return ref, {}
    name, sep, arg = ref.partition(":")
    if name in BUILTIN_NAMES:
        cls, param = BUILTIN_NAMES[name]
        if sep and param is None:
            raise SpecError(f"{name!r} takes no argument")
        return cls, ({param: arg} if sep and param else {})
    if "." not in ref:
        close = did_you_mean(name, BUILTIN_NAMES)
        guess = f"did you mean {close + sep + arg!r}? " if close else ""
        raise SpecError(
            f"unknown check {ref!r}; {guess}built-in names are {', '.join(BUILTIN_NAMES)}"
        )
    try:
        return import_string(ref), {}
    except ImportError as exc:
        raise SpecError(f"cannot import {ref!r}: {exc}") from None


def build_one(spec: Any, settings: HealthSettings) -> Check:
    """One spec to one check; raises :class:`SpecError` (or ``ValueError``)."""
    if isinstance(spec, dict):
        options = dict(spec)
        if "check" not in options:
            raise SpecError(f"a dict spec needs a 'check' key: {sorted(options)}")
        target, implied = _resolve(options.pop("check"))
        return _instantiate(target, {**implied, **options}, settings)
    target, implied = _resolve(spec)
    return _instantiate(target, implied, settings)


def derived_specs(disk_paths: list[str] | tuple[str, ...] = ("/",)) -> list[Any]:
    """The specs ``CHECKS = None`` stands for, from the project's settings."""
    from django.conf import settings as dj

    specs: list[Any] = [f"database:{alias}" for alias in getattr(dj, "DATABASES", {})]
    for alias, cfg in (getattr(dj, "CACHES", {}) or {}).items():
        backend = str(cfg.get("BACKEND", ""))
        if backend.endswith("DummyCache"):
            continue
        if backend.startswith("django_redis."):
            specs.append(f"redis:{alias}")
        else:
            specs.append(f"cache:{alias}")
    specs += [f"disk:{path}" for path in disk_paths]
    specs.append("memory")
    if "default" in getattr(dj, "DATABASES", {}):
        specs.append("migrations:default")
    if getattr(dj, "CELERY_BROKER_URL", None):
        specs.append("celery")
    return specs


def build_checks(settings: HealthSettings, errors: list[str] | None = None) -> list[Check]:
    """All checks; bad specs are skipped and described in ``errors``.

    Never raises: a typo in ``CHECKS`` must not break the probe (system check
    ``opskit.E501`` reports it).
    """
    specs = derived_specs(settings.DISK_PATHS) if settings.CHECKS is None else list(settings.CHECKS)
    checks: list[Check] = []
    seen: set[str] = set()
    for spec in specs:
        try:
            check = build_one(spec, settings)
        except Exception as exc:
            if errors is not None:
                errors.append(f"{spec!r:.80}: {exc}")
            continue
        if check.name in seen:
            if errors is not None:
                errors.append(f"{spec!r:.80}: duplicate check name {check.name!r}")
            continue
        seen.add(check.name)
        checks.append(check)
    return checks
