from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# -- make test-unit --------------------------------------------------------------
#: Set by ``make test-unit`` (with ``tests.settings_unit``): no server runs.
UNIT = os.environ.get("OPSKIT_TEST_UNIT") == "1"
#: Markers of the tests that need a server (or take long): left for ``make test``.
SERVER_MARKERS = frozenset({"redis", "postgres", "slow", "rehearsal"})
#: Test packages that start or need servers throughout (the demo runs on
#: PostgreSQL, the wheel test builds and installs, the rehearsal is gunicorn).
SERVER_DIRS = frozenset({"demo", "packaging", "rehearsal"})
_TESTS = Path(__file__).parent
_LEFT = pytest.StashKey[int]()


def _needs_server(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(m) for m in SERVER_MARKERS):
        return True
    parts = item.path.relative_to(_TESTS).parts
    return len(parts) > 1 and parts[0] in SERVER_DIRS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not UNIT:
        return
    left = [i for i in items if _needs_server(i)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [i for i in items if not _needs_server(i)]
    config.stash[_LEFT] = len(left)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if UNIT and _LEFT in config.stash:
        terminalreporter.write_line(
            f"test-unit: {config.stash[_LEFT]} tests left for `make test` "
            "(they need Redis, PostgreSQL or a server of their own, or are slow)"
        )
