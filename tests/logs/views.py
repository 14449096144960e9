"""Views the logging tests drive through Django's real handlers."""

from __future__ import annotations

import asyncio
import logging
import uuid

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from opskit import context
from opskit.context import DBStats

log = logging.getLogger("tests.logs.user")


def post_detail(request: HttpRequest, pk: int) -> JsonResponse:
    log.info("sync view first %s", pk)
    log.warning("sync view second")
    return JsonResponse({"pk": pk})


async def apost_detail(request: HttpRequest, pk: int) -> JsonResponse:
    log.info("async view %s", pk)
    await asyncio.sleep(0)
    log.info("async view after await")
    return JsonResponse({"pk": pk})


def _in_thread(marker: str) -> str:
    logging.getLogger("tests.logs.thread").info("thread hop %s", marker)
    record = context.current()
    return record.request_id if record else ""


async def hop(request: HttpRequest) -> JsonResponse:
    inner = await sync_to_async(_in_thread)("hop")
    return JsonResponse({"inner": inner})


async def concurrent(request: HttpRequest) -> JsonResponse:
    n = request.GET.get("n", "")
    log.info("concurrent start n=%s", n)
    await asyncio.sleep(float(request.GET.get("d", "0.01")))
    inner = await sync_to_async(_in_thread)(f"n={n}")
    log.info("concurrent end n=%s", n)
    return JsonResponse({"n": n, "inner": inner})


def sync_concurrent(request: HttpRequest) -> JsonResponse:
    n = request.GET.get("n", "")
    log.info("concurrent start n=%s", n)
    import time

    time.sleep(float(request.GET.get("d", "0.01")))
    log.info("concurrent end n=%s", n)
    return JsonResponse({"n": n})


def boom(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("boom")


def unavailable(request: HttpRequest) -> HttpResponse:
    return HttpResponse("down", status=503)


def teapot(request: HttpRequest) -> HttpResponse:
    return HttpResponse("no", status=418)


def redirect(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=302, headers={"Location": "/elsewhere/"})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"a" * 10, b"b" * 20]))


async def astream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"x" * 5
        await asyncio.sleep(0)
        yield b"y" * 7

    return StreamingHttpResponse(chunks())


def odd_user(request: HttpRequest) -> HttpResponse:
    """A user id that is not a string (set by some other code on the record)."""
    record = context.current()
    assert record is not None
    kind = request.GET.get("kind", "int")
    record.user_id = {"int": 12345, "uuid": uuid.UUID(int=7), "long": "u" * 1000}[kind]  # type: ignore[assignment]
    return HttpResponse("ok")


def with_db(request: HttpRequest) -> HttpResponse:
    """What the query monitor leaves on the record."""
    record = context.current()
    assert record is not None
    stats = DBStats()
    stats.count = 3
    stats.duration = 0.0042
    record.db = stats
    return HttpResponse("ok")


def login_view(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import get_user_model, login

    user = get_user_model().objects.create_user(username=f"u{uuid.uuid4().hex[:8]}")
    login(request, user)
    return HttpResponse(str(user.pk))


def whoami(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.user.pk))


def logging_stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks():  # type: ignore[no-untyped-def]
        for i in range(3):
            log.info("chunk %s", i)
            yield b"c" * 4

    return StreamingHttpResponse(chunks())


async def alogging_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(3):
            log.info("achunk %s", i)
            await asyncio.sleep(0)
            yield b"c" * 4

    return StreamingHttpResponse(chunks())


def two_queries(request: HttpRequest) -> HttpResponse:
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    return HttpResponse(f"{users.count()} {users.filter(is_staff=True).count()}")
