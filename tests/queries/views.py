"""Views for the query-monitor tests: the N+1 patterns, the quiet cases, timing.

Lines that trigger the repeated query carry a ``# site:<name>`` marker; the
tests find the expected call site from it.
"""

from __future__ import annotations

import asyncio
import time

from asgiref.sync import sync_to_async
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View

from opskit.slow import SlowRequestMixin, slow_request
from tests.testapp.models import Author, Book


def run_queries(n: int, using: str = "default") -> None:
    for _ in range(n):
        Author.objects.using(using).filter(name="x").exists()


def _n(request: HttpRequest) -> int:
    return int(request.GET.get("n", "3"))


def sync_count(request: HttpRequest) -> JsonResponse:
    run_queries(_n(request))
    run_queries(int(request.GET.get("other", "0")), "other")
    return JsonResponse({"ok": True})


async def async_count(request: HttpRequest, tag: int) -> JsonResponse:
    n = _n(request)
    for _ in range(n):
        # Yield between queries so concurrent requests interleave.
        await asyncio.sleep(0.002)
        await sync_to_async(run_queries)(1)
    await Author.objects.filter(name="y").acount()
    return JsonResponse({"n": n})


def sleep_query(request: HttpRequest) -> JsonResponse:
    """One query that takes at least ``ms`` on the PostgreSQL alias."""
    alias = request.GET["alias"]
    seconds = float(request.GET.get("ms", "30")) / 1000.0
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])  # site:sleep
    return JsonResponse({"ok": True})


# -- the six N+1 patterns ------------------------------------------------------


def fk_loop(request: HttpRequest) -> JsonResponse:
    names = []
    for book in Book.objects.order_by("id"):
        names.append(book.author.name)  # site:fk
    return JsonResponse({"n": len(names)})


def m2m_loop(request: HttpRequest) -> JsonResponse:
    total = 0
    for book in Book.objects.order_by("id"):
        total += len(book.tags.all())  # site:m2m
    return JsonResponse({"n": total})


def reverse_count_loop(request: HttpRequest) -> JsonResponse:
    total = 0
    for author in Author.objects.order_by("id"):
        total += author.books.count()  # site:count
    return JsonResponse({"n": total})


def deferred_loop(request: HttpRequest) -> JsonResponse:
    titles = []
    for book in Book.objects.only("id").order_by("id"):
        titles.append(book.title)  # site:deferred
    return JsonResponse({"n": len(titles)})


def prefetch_filter_loop(request: HttpRequest) -> JsonResponse:
    total = 0
    for author in Author.objects.prefetch_related("books").order_by("id"):
        total += len(author.books.filter(title__startswith="B"))  # site:prefetch_filter
    return JsonResponse({"n": total})


def same_get(request: HttpRequest) -> JsonResponse:
    first = Author.objects.order_by("id").first()
    assert first is not None
    for _ in range(20):
        Author.objects.get(pk=first.pk)  # site:get
    return JsonResponse({"n": 20})


# -- quiet cases -------------------------------------------------------------


def fk_select_related(request: HttpRequest) -> JsonResponse:
    names = [b.author.name for b in Book.objects.select_related("author")]
    return JsonResponse({"n": len(names)})


def m2m_prefetch_related(request: HttpRequest) -> JsonResponse:
    total = sum(len(b.tags.all()) for b in Book.objects.prefetch_related("tags"))
    return JsonResponse({"n": total})


def single_lazy_load(request: HttpRequest) -> JsonResponse:
    book = Book.objects.order_by("id").first()
    assert book is not None
    return JsonResponse({"n": book.author.name})


def three_item_loop(request: HttpRequest) -> JsonResponse:
    names = [b.author.name for b in Book.objects.order_by("id")[:3]]
    return JsonResponse({"n": len(names)})


def unused_select_related(request: HttpRequest) -> JsonResponse:
    titles = [b.title for b in Book.objects.select_related("author")]
    return JsonResponse({"n": len(titles)})


def keyset_pagination(request: HttpRequest) -> JsonResponse:
    last, seen = 0, 0
    while True:
        page = list(Book.objects.filter(id__gt=last).order_by("id")[:2])
        if not page:
            break
        seen += len(page)
        last = page[-1].id
    return JsonResponse({"n": seen})


# -- slow requests -----------------------------------------------------------


def _sleep(request: HttpRequest) -> None:
    time.sleep(float(request.GET.get("ms", "30")) / 1000.0)


@slow_request(threshold_ms=10)
def slow_fbv(request: HttpRequest) -> HttpResponse:
    _sleep(request)
    run_queries(2)
    return HttpResponse("ok")


@slow_request(threshold_ms=10)
async def slow_async_fbv(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(float(request.GET.get("ms", "30")) / 1000.0)
    return HttpResponse("ok")


@slow_request(threshold_ms=60_000)
def lenient_fbv(request: HttpRequest) -> HttpResponse:
    _sleep(request)
    return HttpResponse("ok")


@slow_request
def default_threshold_fbv(request: HttpRequest) -> HttpResponse:
    _sleep(request)
    return HttpResponse("ok")


@slow_request(threshold_ms=10)
def slow_failing_fbv(request: HttpRequest) -> HttpResponse:
    _sleep(request)
    raise ZeroDivisionError("view failed")


def plain_view(request: HttpRequest) -> HttpResponse:
    _sleep(request)
    return HttpResponse("ok")


class SlowMixinView(SlowRequestMixin, View):
    slow_request_threshold_ms = 10

    def get(self, request: HttpRequest) -> HttpResponse:
        _sleep(request)
        return HttpResponse("ok")


class SlowAsyncMixinView(SlowRequestMixin, View):
    slow_request_threshold_ms = 10

    async def get(self, request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(float(request.GET.get("ms", "30")) / 1000.0)
        return HttpResponse("ok")


@method_decorator(slow_request(threshold_ms=10), name="dispatch")
class SlowDecoratedView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        _sleep(request)
        return HttpResponse("ok")
