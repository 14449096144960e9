"""Intended batching is not an N+1: bulk calls and executemany; a loop of single writes is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from opskit.queries import assert_no_n_plus_one, monitor
from tests.testapp.models import Author, Tag

from .conftest import site_of

pytestmark = pytest.mark.django_db

HERE = Path(__file__)


def _inserts(stats: Any) -> list[Any]:
    return [e for e in stats.entries() if e.fp.sample.upper().startswith("INSERT")]


def test_batched_bulk_create_is_not_an_n_plus_one(events: dict[str, list[Any]]) -> None:
    rows = [Author(name=f"a{i}") for i in range(600)]
    with assert_no_n_plus_one(), monitor("import") as stats:
        Author.objects.bulk_create(rows, batch_size=100)
    [insert] = _inserts(stats)
    assert insert.count == 6  # six batches, all counted in the totals
    assert insert.repeats == 0
    assert events["n_plus_one"] == []
    assert Author.objects.count() == 600


def test_batched_bulk_update_is_not_an_n_plus_one(events: dict[str, list[Any]]) -> None:
    Author.objects.bulk_create([Author(name=f"a{i}") for i in range(600)])
    authors = list(Author.objects.all())
    for a in authors:
        a.bio = "updated"
    with assert_no_n_plus_one(), monitor("update") as stats:
        Author.objects.bulk_update(authors, ["bio"], batch_size=100)
    updates = [e for e in stats.entries() if e.fp.sample.upper().startswith("UPDATE")]
    assert sum(e.count for e in updates) == 6
    assert events["n_plus_one"] == []
    assert Author.objects.filter(bio="updated").count() == 600


def test_executemany_is_one_bulk_call_each(events: dict[str, list[Any]]) -> None:
    table = Tag._meta.db_table
    with assert_no_n_plus_one(), monitor("raw") as stats, connection.cursor() as cursor:
        for batch in range(6):
            cursor.executemany(
                f"INSERT INTO {table} (name) VALUES (%s)",
                [(f"t{batch}-{i}",) for i in range(10)],
            )
    assert stats.count == 6
    assert events["n_plus_one"] == []
    assert Tag.objects.count() == 60


def test_a_loop_of_single_writes_is_still_reported(events: dict[str, list[Any]]) -> None:
    with monitor("loop"):
        for i in range(6):
            Author.objects.create(name=f"one by one {i}")  # site:single_writes
    [found] = events["n_plus_one"]
    assert found["count"] == 6
    assert found["call_site"] == site_of("single_writes", HERE)
    assert found["sql"].upper().startswith("INSERT")


def test_single_writes_after_a_bulk_call_count_on_their_own(
    events: dict[str, list[Any]],
) -> None:
    with monitor("mixed"):
        Author.objects.bulk_create([Author(name=f"b{i}") for i in range(600)], batch_size=100)
        for i in range(5):
            Author.objects.create(name=f"single {i}")  # site:after_bulk
    [found] = events["n_plus_one"]
    assert found["count"] == 5
    assert found["call_site"] == site_of("after_bulk", HERE)
