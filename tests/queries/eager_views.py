"""A view with three unused eager loads and three used ones (``# site:`` markers)."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse

from tests.testapp.models import Author, Book, Tag


def eager(request: HttpRequest) -> JsonResponse:
    out: list[object] = []
    for _ in range(2):  # the same sites twice: still one report each
        # Unused: the relation is loaded and never read.
        out += [b.title for b in Book.objects.select_related("author")]  # site:unused_select
        out += [a.name for a in Author.objects.prefetch_related("books")]  # site:unused_prefetch
        for a in Author.objects.prefetch_related("books__tags"):  # site:unused_nested
            out += [b.title for b in a.books.all()]
        # Used: the same kinds, read.
        out += [b.author.name for b in Book.objects.select_related("author")]
        out += [len(t.books.all()) for t in Tag.objects.prefetch_related("books")]
        for a in Author.objects.prefetch_related("books__tags"):
            out += [t.name for b in a.books.all() for t in b.tags.all()]
    return JsonResponse({"n": len(out)})


def _titles() -> list[str]:
    return [b.title for b in Book.objects.select_related("author")]  # site:async_select


async def aeager(request: HttpRequest) -> JsonResponse:
    # ``async for`` evaluates in asgiref's worker thread, whose stack has no
    # frame of the view: the helper's line is the call site.
    names = await sync_to_async(_titles)()
    names += [b.title async for b in Book.objects.select_related("author")]
    return JsonResponse({"n": len(names)})
