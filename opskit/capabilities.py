"""The ordered list of capabilities the core iterates.

Adding a capability is its own package (with a ``CAPABILITY`` descriptor)
and one line here.  The order is the order of the ``ready`` hooks: the
task-run receivers connect, and so run on ``task_finished``, in the order
query statistics closed, metrics, Sentry, then the task's log line (which
carries everything).  The request extensions have their own
``extension_order``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from .capability import Capability

if TYPE_CHECKING:
    from django.urls import URLPattern, URLResolver

__all__ = [
    "BUILTIN",
    "extension_paths",
    "installed",
    "plug_in",
    "url_patterns",
]

#: Capability packages, each with a ``CAPABILITY`` descriptor, in hook order.
BUILTIN: tuple[str, ...] = (
    "opskit.ratelimit",
    "opskit.queries",
    "opskit.slow",
    "opskit.health",
    "opskit.metrics",
    "opskit.sentry",
    "opskit.tasks",
    "opskit.logs",
)


@lru_cache(maxsize=1)
def _installed(names: tuple[str, ...]) -> tuple[Capability, ...]:
    found: list[Capability] = []
    for name in names:
        descriptor = import_module(name).CAPABILITY
        if not isinstance(descriptor, Capability):
            raise TypeError(f"{name}.CAPABILITY is not an opskit Capability")
        found.append(descriptor)
    return tuple(found)


def installed() -> tuple[Capability, ...]:
    """The descriptors of :data:`BUILTIN`, in order (imported on first use)."""
    return _installed(BUILTIN)


def plug_in(caps: Iterable[Capability], register: Callable[..., Any]) -> None:
    """Register ``caps``' system checks with ``register``, then run their
    ``ready`` hooks in order: what ``AppConfig.ready()`` does with
    :func:`installed`."""
    caps = tuple(caps)
    for cap in caps:
        for path in cap.checks:
            import_string(path)(register)
    for cap in caps:
        for hook in cap.ready:
            import_string(hook)()


def extension_paths() -> list[tuple[str | None, str]]:
    """(settings section, extension path), in the order the hooks run."""
    caps = sorted((c for c in installed() if c.extension), key=lambda c: c.extension_order)
    return [(c.section, c.extension) for c in caps if c.extension]


def url_patterns() -> list[URLPattern | URLResolver]:
    """The URL patterns of every capability that serves some."""
    patterns: list[URLPattern | URLResolver] = []
    for cap in installed():
        if cap.urls:
            patterns.extend(import_string(cap.urls)())
    return patterns
