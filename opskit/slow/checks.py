"""System checks of the ``SLOW_REQUESTS`` settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.checks import Error, Warning

from ..conf import get_settings

__all__ = ["check_slow_settings", "register_checks"]


def check_slow_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    s = get_settings().SLOW_REQUESTS
    errors: list[Any] = []
    ms = s.THRESHOLD_MS
    if ms is not None and ms <= 0:
        errors.append(
            Error(
                f"OPSKIT SLOW_REQUESTS.THRESHOLD_MS must be positive, not {ms!r}.",
                hint="Use None to turn the global check off.",
                id="opskit.E451",
            )
        )
    elif ms is not None and ms < 10:
        errors.append(
            Warning(
                f"OPSKIT SLOW_REQUESTS.THRESHOLD_MS is {ms!r} ms: nearly every request "
                "will log a slow-request warning.",
                hint="Typical thresholds are 500-2000 ms.",
                id="opskit.W451",
            )
        )
    if not s.LOGGER or not s.LOGGER.strip():
        errors.append(
            Error(
                "OPSKIT SLOW_REQUESTS.LOGGER is empty.",
                hint="Use a logger name such as 'opskit.slow'.",
                id="opskit.E452",
            )
        )
    return errors


def register_checks(register: Callable[..., Any]) -> None:
    register(check_slow_settings, "opskit")
