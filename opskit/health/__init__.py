"""Health probes: liveness, readiness and startup that never hang.

Public API: :class:`Check` (subclass it), :func:`health_check` (decorate a
function), the typed errors :class:`CheckFailed` and :class:`CheckWarning`,
and the built-in checks in :mod:`opskit.health.builtin`.  List checks in
``OPSKIT["HEALTH"]["CHECKS"]``; see ``docs/health.md``.
"""

from __future__ import annotations

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
