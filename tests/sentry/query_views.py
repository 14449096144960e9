"""Views for the Sentry + query monitor tests: an N+1 and errors beside querying values.

Lines the tests expect as call sites carry a ``# site:<name>`` marker.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from opskit import context
from tests.testapp.models import Author, Book


def _ids() -> dict[str, Any]:
    record = context.current()
    assert record is not None
    return {"trace_id": record.trace_id, "span_id": record.span_id}


def n_plus_one(request: HttpRequest) -> JsonResponse:
    names = []
    for book in Book.objects.order_by("id"):
        names.append(book.author.name)  # site:n1
    return JsonResponse({**_ids(), "n": len(names)})


def _deeper(value: Any, depth: int) -> None:
    # Each frame holds ``value``: sentry-sdk serialises every frame's variables.
    if depth:
        _deeper(value, depth - 1)
        return
    raise ValueError("boom next to a value that queries")


def error_next_to_queryset(request: HttpRequest) -> HttpResponse:
    books = Book.objects.filter(title__startswith="Zq")
    _deeper(books, 6)
    return HttpResponse("unreachable")


class QueryingRepr:
    """A value whose ``repr()`` runs a query (a model whose ``__str__`` lazy-loads)."""

    def __repr__(self) -> str:
        return f"<QueryingRepr {Author.objects.filter(name='repr-probe').count()}>"


def error_next_to_querying_repr(request: HttpRequest) -> HttpResponse:
    Author.objects.filter(name="view").exists()
    _deeper(QueryingRepr(), 6)
    return HttpResponse("unreachable")
