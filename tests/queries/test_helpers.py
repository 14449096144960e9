"""assert_max_queries / assert_no_n_plus_one: context managers and pytest fixtures."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from opskit.queries import assert_max_queries, assert_no_n_plus_one
from tests.testapp.models import Author, Book

from .conftest import site_of
from .views import fk_loop, run_queries

pytestmark = [
    pytest.mark.urls("tests.queries.urls"),
    pytest.mark.django_db,
    pytest.mark.usefixtures("library"),
]

HERE = "tests/queries/test_helpers.py"


def test_max_queries_passes_and_counts() -> None:
    with assert_max_queries(3) as stats:
        run_queries(3)
    assert stats.count == 3


def test_max_queries_failure_lists_fingerprints_with_count_and_site() -> None:
    with pytest.raises(AssertionError) as info, assert_max_queries(2):
        list(Author.objects.all())
        run_queries(3)
    msg = str(info.value)
    assert msg.startswith("Expected at most 2 queries, 4 were run:")
    assert re.search(
        r"3x \[default\] [0-9a-f]{16} at tests/queries/views\.py:\d+ in run_queries", msg
    )
    assert re.search(
        rf"1x \[default\] [0-9a-f]{{16}} at {HERE}:\d+ in test_max_queries_failure", msg
    )
    assert 'FROM "testapp_author"' in msg


def test_savepoints_and_transactions_are_ignored() -> None:
    with assert_max_queries(2) as stats, transaction.atomic():
        with transaction.atomic():
            Author.objects.create(name="x")
        with transaction.atomic():
            Author.objects.filter(name="x").exists()
    # The monitor saw the SAVEPOINT/RELEASE statements; the helper did not count them.
    assert stats.count >= 4


@pytest.mark.django_db(databases=["default", "other"])
def test_using_limits_to_one_alias() -> None:
    with assert_max_queries(1, using="other"):
        run_queries(4)
        run_queries(1, "other")
    with (
        pytest.raises(AssertionError, match="at most 1 queries on 'other', 2 were run"),
        assert_max_queries(1, using="other"),
    ):
        run_queries(2, "other")


def test_requests_made_inside_the_block_count() -> None:
    with (
        pytest.raises(AssertionError, match="at most 3 queries, 9 were run"),
        assert_max_queries(3),
    ):
        Client().get("/n1/fk/")


def test_no_n_plus_one_failure_message() -> None:
    with pytest.raises(AssertionError) as info, assert_no_n_plus_one():
        fk_loop(None)  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith("1 N+1 pattern(s) (same query >= 5 times):")
    assert "8x [default]" in msg
    assert site_of("fk") in msg


def test_no_n_plus_one_threshold_and_quiet_code() -> None:
    with assert_no_n_plus_one():
        [b.author.name for b in Book.objects.select_related("author")]
        run_queries(4)
    with pytest.raises(AssertionError, match="same query >= 3 times"), assert_no_n_plus_one(3):
        run_queries(3)


def test_helpers_do_not_log_or_signal(events: Any) -> None:
    with pytest.raises(AssertionError), assert_no_n_plus_one():
        run_queries(6)
    assert events["n_plus_one"] == []


def test_pytest_plugin_fixtures(assert_max_queries: Any, assert_no_n_plus_one: Any) -> None:
    from opskit.queries import testing

    assert assert_max_queries is testing.assert_max_queries
    with assert_max_queries(5), assert_no_n_plus_one():
        run_queries(2)
    with pytest.raises(AssertionError), assert_max_queries(0):
        run_queries(1)


def test_helpers_as_decorators() -> None:
    @assert_max_queries(1)
    def too_many() -> None:
        run_queries(2)

    @assert_no_n_plus_one(threshold=2)
    def repeats() -> None:
        run_queries(2)

    @assert_max_queries(2)
    def fine() -> str:
        run_queries(2)
        return "ok"

    with pytest.raises(AssertionError, match="at most 1 queries, 2 were run"):
        too_many()
    with pytest.raises(AssertionError, match="same query >= 2 times"):
        repeats()
    assert fine() == "ok"
