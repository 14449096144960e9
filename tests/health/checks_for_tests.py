"""Checks referenced by dotted path from the tests' ``HEALTH.CHECKS``."""

from __future__ import annotations

import threading
from typing import Any

from opskit.health import Check, CheckFailed, CheckWarning, health_check


class Switch(Check):
    """Outcome set by the test; counts its runs; can block until released."""

    component_type = "component"

    def __init__(self, mode: str = "pass", delay: float = 0.0, **kw: Any) -> None:
        super().__init__(**kw)
        self.mode = mode
        self.delay = delay
        self.runs = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()
        self.release.set()
        self.lock = threading.Lock()

    def run(self) -> float | None:
        with self.lock:
            self.runs += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.release.wait()
            if self.delay:
                threading.Event().wait(self.delay)
            if self.mode == "fail":
                raise RuntimeError("secret at db.internal.example:5432 in /etc/app/conf.py")
            if self.mode == "failed":
                raise CheckFailed("gateway said no")
            if self.mode == "warn":
                raise CheckWarning("degraded", observed=7.0)
            return None
        finally:
            with self.lock:
                self.in_flight -= 1


@health_check(critical=False, timeout=0.5)
def optional_gateway() -> None:
    """A decorated function check that always fails (non-critical)."""
    raise CheckFailed("gateway down")


@health_check
def plain_ok() -> float:
    return 1.5


def bare_function() -> None:
    return None


class UnreachableUserBackend:
    """An authentication backend whose user store is down."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        return None

    def get_user(self, user_id: Any) -> None:
        raise ConnectionError("user store unreachable")
