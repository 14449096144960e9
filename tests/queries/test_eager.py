"""Unused eager loads: select_related / prefetch_related loaded and never read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Prefetch
from django.db.models.query import QuerySet
from django.test import AsyncClient, Client, override_settings

from opskit import signals
from opskit.queries import assert_no_unused_eager_loads
from opskit.queries.extension import QueriesExtension
from tests.testapp.models import Author, Book, Tag

from .conftest import site_of

HERE = Path(__file__)
VIEWS = HERE.with_name("eager_views.py")
DJANGO_FETCH_ALL = QuerySet._fetch_all
ON = {"QUERIES": {"UNUSED_EAGER_LOADS": True}}


@pytest.fixture(autouse=True)
def _settings_state() -> Iterator[None]:
    """Leave the wrapper as the default settings want it (off) after each test."""
    yield
    from opskit.queries import eager

    eager.set_enabled(False)
    assert QuerySet._fetch_all is DJANGO_FETCH_ALL


@pytest.fixture
def unused() -> Iterator[list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        got.append(kwargs)

    signals.unused_eager_load.connect(receiver, weak=False)
    yield got
    signals.unused_eager_load.disconnect(receiver)


def _fails_with(lookup: str, kind: str, marker: str) -> Any:
    return pytest.raises(AssertionError, match=rf"{kind}\('{lookup}'\) on testapp\.\w+ at ")


# -- the three kinds, unused and used ----------------------------------------------


def test_unused_select_related(library: None) -> None:
    with pytest.raises(AssertionError) as info, assert_no_unused_eager_loads():
        [b.title for b in Book.objects.select_related("author")]  # site:t_select
    text = str(info.value)
    assert "1 eager load(s) never read" in text
    assert f"select_related('author') on testapp.Book at {site_of('t_select', HERE)}" in text


def test_used_select_related(library: None) -> None:
    with assert_no_unused_eager_loads() as helper:
        [b.author.name for b in Book.objects.select_related("author")]
    assert helper.found == []


def test_unused_prefetch_related(library: None) -> None:
    with pytest.raises(AssertionError) as info, assert_no_unused_eager_loads():
        [a.name for a in Author.objects.prefetch_related("books")]  # site:t_prefetch
    assert f"prefetch_related('books') on testapp.Author at {site_of('t_prefetch', HERE)}" in str(
        info.value
    )


def test_used_prefetch_related_forward_and_reverse_m2m(library: None) -> None:
    with assert_no_unused_eager_loads():
        [len(a.books.all()) for a in Author.objects.prefetch_related("books")]
        [len(t.books.all()) for t in Tag.objects.prefetch_related("books")]  # reverse M2M
        [len(b.tags.all()) for b in Book.objects.prefetch_related("tags")]
        [b.author.name for b in Book.objects.prefetch_related("author")]  # to-one prefetch


def test_unused_nested_prefetch_related(library: None) -> None:
    with pytest.raises(AssertionError) as info, assert_no_unused_eager_loads() as helper:
        for a in Author.objects.prefetch_related("books__tags"):
            [b.title for b in a.books.all()]
    # The books were read: only the nested level is reported.
    assert [(f.kind, f.lookup) for f in helper.found] == [("prefetch_related", "books__tags")]
    assert "prefetch_related('books__tags') on testapp.Author" in str(info.value)


def test_used_nested_prefetch_related(library: None) -> None:
    with assert_no_unused_eager_loads():
        for a in Author.objects.prefetch_related("books__tags"):
            [t.name for b in a.books.all() for t in b.tags.all()]


def test_prefetch_object_and_nested_select_related(library: None) -> None:
    with pytest.raises(AssertionError) as info, assert_no_unused_eager_loads() as helper:
        qs = Author.objects.prefetch_related(
            Prefetch("books", queryset=Book.objects.select_related("author"))
        )
        [len(a.books.all()) for a in qs]
    # The Prefetch's own queryset loaded book.author: never read.
    assert [(f.kind, f.lookup, f.model) for f in helper.found] == [
        ("select_related", "author", "testapp.Book")
    ]
    assert "select_related('author')" in str(info.value)


def test_a_read_on_any_instance_counts_as_used(library: None) -> None:
    with assert_no_unused_eager_loads():
        books = list(Book.objects.select_related("author").order_by("id"))
        assert books[0].author.name


def test_values_querysets_and_the_view_exception_are_left_alone(library: None) -> None:
    with assert_no_unused_eager_loads():
        list(Book.objects.select_related("author").values("title"))
    with pytest.raises(KeyError), assert_no_unused_eager_loads():
        list(Book.objects.select_related("author"))
        raise KeyError("the block's own error wins")


def test_copies_and_pickles_of_instances_are_plain(library: None) -> None:
    import copy
    import pickle

    with pytest.raises(AssertionError), assert_no_unused_eager_loads():
        book = Book.objects.select_related("author").first()
        assert book is not None
        clone = pickle.loads(pickle.dumps(book))
        assert type(clone._state.fields_cache) is dict
        assert type(copy.copy(book)._state.fields_cache) is dict
        assert clone.author.name  # the copy's read is not the original's


# -- requests, settings, cost when off ------------------------------------------------


@pytest.mark.urls("tests.queries.eager_urls")
def test_each_unused_load_of_a_request_is_reported_once(
    library: None, unused: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(OPSKIT=ON), caplog.at_level(logging.WARNING, "opskit.queries"):
        resp = Client().get("/eager/")
    assert resp.status_code == 200
    got = sorted((u["kind"], u["model"], u["lookup"], u["call_site"]) for u in unused)
    assert got == [
        ("prefetch_related", "testapp.Author", "books", site_of("unused_prefetch", VIEWS)),
        ("prefetch_related", "testapp.Author", "books__tags", site_of("unused_nested", VIEWS)),
        ("select_related", "testapp.Book", "author", site_of("unused_select", VIEWS)),
    ]
    assert all(u["record"].request_id == resp["X-Request-ID"] for u in unused)
    logged = [r for r in caplog.records if getattr(r, "event", None) == "unused_eager_load"]
    assert len(logged) == 3
    assert {r.route for r in logged} == {"eager/"}  # type: ignore[attr-defined]


@pytest.mark.urls("tests.queries.eager_urls")
async def test_async_view(
    tx_library: None, thread_connections: None, unused: list[dict[str, Any]]
) -> None:
    with override_settings(OPSKIT=ON):
        resp = await AsyncClient().get("/aeager/")
    assert resp.status_code == 200
    assert sorted((u["lookup"], u["call_site"] or "") for u in unused) == [
        ("author", ""),  # async for: no application frame in the worker thread
        ("author", site_of("async_select", VIEWS)),
    ]


@pytest.mark.urls("tests.queries.eager_urls")
def test_off_by_default_and_nothing_installed(library: None, unused: list[dict[str, Any]]) -> None:
    QueriesExtension()  # what the pipeline builds on a settings change
    assert QuerySet._fetch_all is DJANGO_FETCH_ALL
    assert Client().get("/eager/").status_code == 200
    assert unused == []
    with override_settings(OPSKIT=ON):
        QueriesExtension()
        assert QuerySet._fetch_all is not DJANGO_FETCH_ALL
    QueriesExtension()
    assert QuerySet._fetch_all is DJANGO_FETCH_ALL


def test_monitor_scopes_report_too(library: None, unused: list[dict[str, Any]]) -> None:
    from opskit.queries import monitor

    with override_settings(OPSKIT=ON):
        with monitor("nightly") as stats:
            [b.title for b in Book.objects.select_related("author")]  # site:t_monitor
        assert stats.record is not None
        [found] = unused
        assert found["call_site"] == site_of("t_monitor", HERE)
        assert found["record"] is stats.record
        with monitor("nightly"):
            [b.author.name for b in Book.objects.select_related("author")]
        assert len(unused) == 1


def test_the_helper_installs_only_for_its_block(library: None) -> None:
    assert QuerySet._fetch_all is DJANGO_FETCH_ALL
    with assert_no_unused_eager_loads():
        assert QuerySet._fetch_all is not DJANGO_FETCH_ALL
        [b.author.name for b in Book.objects.select_related("author")]
    assert QuerySet._fetch_all is DJANGO_FETCH_ALL


@assert_no_unused_eager_loads()
def _decorated() -> int:
    return sum(len(a.books.all()) for a in Author.objects.prefetch_related("books"))


def test_as_a_decorator(library: None) -> None:
    assert _decorated() == 8
