from __future__ import annotations

from collections.abc import Callable

import pytest

from opskit import extensions


@pytest.fixture
def use_extensions(monkeypatch: pytest.MonkeyPatch) -> Callable[..., extensions.Pipeline]:
    """Run the core middleware with exactly the given extension instances."""

    def use(*instances: extensions.Extension) -> extensions.Pipeline:
        pipeline = extensions.Pipeline(list(instances))
        monkeypatch.setattr("opskit.middleware.get_extensions", lambda: pipeline)
        return pipeline

    return use
