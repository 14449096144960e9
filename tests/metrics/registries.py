"""Registries the tests name in ``OPSKIT["METRICS"]["REGISTRY"]``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

#: A user's own registry, given as an object.
SHARED = CollectorRegistry()

NOT_A_REGISTRY = 42


def fresh() -> CollectorRegistry:
    """A new registry per settings load: every test starts from zero."""
    return CollectorRegistry()
