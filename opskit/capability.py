"""The one object a capability declares to plug into the core.

In the spirit of django-debug-toolbar's ``Panel``: each capability package
exposes one :class:`Capability` as ``CAPABILITY`` and the core (app
``ready()``, the middleware's extensions, ``opskit.urls``, the settings)
asks the descriptors instead of keeping its own lists in step by hand.
Everything is a dotted path, resolved when the core needs it, so declaring a
capability imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Capability"]


@dataclass(frozen=True)
class Capability:
    """What a capability adds; every callable is named by dotted path.

    ``section`` is its key in ``settings.OPSKIT`` (a typed section of
    :class:`opskit.conf.Settings`, or ``settings`` names the dataclass of a
    section that is not one); the extension runs only while the section's
    ``ENABLED`` (when it has one) is true.  ``ready`` hooks run in the order
    of :data:`opskit.capabilities.BUILTIN`, capability by capability;
    ``extension_order`` places the request extension among the others
    (lower runs first).
    """

    name: str
    section: str | None = None
    #: Dotted path of the section's dataclass when it is not in ``conf.Settings``.
    settings: str | None = None
    #: Callables ``register_checks(register)`` adding the system checks.
    checks: tuple[str, ...] = ()
    #: Callables run once in ``AppConfig.ready()`` (signal receivers).
    ready: tuple[str, ...] = ()
    #: The :class:`opskit.extensions.Extension` subclass the middleware runs.
    extension: str | None = None
    extension_order: int = 0
    #: A callable returning the URL patterns ``opskit.urls`` serves.
    urls: str | None = None
