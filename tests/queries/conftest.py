from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from opskit import extensions, signals
from opskit.context import RequestRecord
from tests.testapp.models import Author, Book, Tag

VIEWS = Path(__file__).with_name("views.py")


def site_of(marker: str, source: Path = VIEWS) -> str:
    """``tests/queries/views.py:<line> in <function>`` for a ``# site:`` marker."""
    func = "?"
    for lineno, line in enumerate(source.read_text().splitlines(), 1):
        m = re.match(r"\s*(?:async )?def (\w+)", line)
        if m:
            func = m.group(1)
        if line.rstrip().endswith(f"# site:{marker}"):
            return f"{os.path.relpath(source)}:{lineno} in {func}"
    raise LookupError(marker)


def pg_alias() -> str:
    return next(a for a in ("default", "other") if connections[a].vendor == "postgresql")


class Recorder(extensions.Extension):
    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def request_finished(self, record: RequestRecord, request: Any, response: Any) -> None:
        self.records.append(record)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The real pipeline plus a recorder that keeps each finished record."""
    rec = Recorder()
    real = extensions.get_extensions

    def pipeline() -> extensions.Pipeline:
        return extensions.Pipeline([*real().extensions, rec])

    monkeypatch.setattr("opskit.middleware.get_extensions", pipeline)
    return rec


@pytest.fixture
def events() -> Iterator[dict[str, list[dict[str, Any]]]]:
    got: dict[str, list[dict[str, Any]]] = {"slow_query": [], "n_plus_one": [], "slow_request": []}

    def on(name: str) -> Any:
        def receiver(sender: Any, **kwargs: Any) -> None:
            got[name].append(kwargs)

        return receiver

    receivers = {
        signals.slow_query: on("slow_query"),
        signals.n_plus_one_detected: on("n_plus_one"),
        signals.slow_request_detected: on("slow_request"),
    }
    for sig, fn in receivers.items():
        sig.connect(fn, weak=False)
    yield got
    for sig, fn in receivers.items():
        sig.disconnect(fn)


def make_library(using: str = "default") -> None:
    """6 authors, 8 books (2 titled B...), 3 tags, 2 tags per book."""
    tags = [Tag.objects.using(using).create(name=f"tag{i}") for i in range(3)]
    authors = [Author.objects.using(using).create(name=f"author{i}") for i in range(6)]
    for i in range(8):
        book = Book.objects.using(using).create(
            title=("B" if i < 2 else "A") + f"ook {i}", author=authors[i % 6]
        )
        book.tags.add(tags[i % 3], tags[(i + 1) % 3])


@pytest.fixture
def library(db: Any) -> None:
    make_library()


@pytest.fixture
def tx_library(transactional_db: Any) -> None:
    make_library()


@pytest.fixture
async def thread_connections() -> Any:
    """Close the connections sync_to_async opened in asgiref's worker thread.

    The test client keeps Django from closing them at request end, and an
    open session would block dropping the PostgreSQL test database.
    """
    from asgiref.sync import sync_to_async

    yield
    await sync_to_async(connections.close_all)()
