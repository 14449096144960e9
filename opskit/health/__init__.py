"""Health probes: liveness, readiness and startup that never hang.

Public API: :class:`Check` (subclass it), :func:`health_check` (decorate a
function), the typed errors :class:`CheckFailed` and :class:`CheckWarning`,
and the built-in checks in :mod:`opskit.health.builtin`.  List checks in
``OPSKIT["HEALTH"]["CHECKS"]``; see ``docs/health.md``.
"""

from __future__ import annotations

from ..capability import Capability
from .base import (
    READY,
    STARTUP,
    Check,
    CheckFailed,
    CheckWarning,
    HealthError,
    Result,
    health_check,
)

__all__ = [
    "READY",
    "STARTUP",
    "Check",
    "CheckFailed",
    "CheckWarning",
    "HealthError",
    "Result",
    "health_check",
]


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="health",
    section="HEALTH",
    checks=("opskit.health.checks.register_checks",),
    extension="opskit.health.extension.HealthExtension",
    extension_order=50,
    urls="opskit.health.views.url_patterns",
)
