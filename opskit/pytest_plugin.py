"""pytest fixtures for opskit's query assertions (registered as the ``opskit`` plugin).

Loaded by pytest through the ``pytest11`` entry point in every project that
has opskit installed, so it imports nothing from Django until a fixture is
used::

    def test_list(client, assert_max_queries, assert_no_n_plus_one):
        with assert_max_queries(3), assert_no_n_plus_one():
            client.get("/books/")
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["assert_max_queries", "assert_no_n_plus_one"]


@pytest.fixture
def assert_max_queries() -> Any:
    """``with assert_max_queries(n, using=None):`` fails above ``n`` queries."""
    from opskit.queries.testing import assert_max_queries as helper

    return helper


@pytest.fixture
def assert_no_n_plus_one() -> Any:
    """``with assert_no_n_plus_one(threshold=None):`` fails on a repeated query shape."""
    from opskit.queries.testing import assert_no_n_plus_one as helper

    return helper
