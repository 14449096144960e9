"""Views the core tests drive through the real handlers."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from opskit import context

log = logging.getLogger("tests.views")


def _snapshot() -> dict[str, object]:
    record = context.current()
    assert record is not None
    return {"request_id": record.request_id, "route": record.route, "client": record.client_address}


def sync_view(request: HttpRequest, pk: int) -> JsonResponse:
    log.info("in sync view %s", pk)
    return JsonResponse(_snapshot())


async def async_view(request: HttpRequest, pk: int) -> JsonResponse:
    log.info("in async view %s", pk)
    return JsonResponse(_snapshot())


async def async_thread_view(request: HttpRequest) -> JsonResponse:
    inner = await sync_to_async(_snapshot)()
    outer = _snapshot()
    return JsonResponse({"inner": inner, "outer": outer})


def record_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_snapshot())


def boom_view(request: HttpRequest) -> HttpResponse:
    raise ZeroDivisionError("boom")


def stream_view(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"a" * 10, b"b" * 20]))


async def async_stream_view(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b"x" * 5
        await asyncio.sleep(0)
        yield b"y" * 7

    return StreamingHttpResponse(chunks())


async def async_sleep_view(request: HttpRequest) -> JsonResponse:
    delay = float(request.GET.get("d", "0.01"))
    before = _snapshot()
    await asyncio.sleep(delay)
    after = _snapshot()
    assert before == after
    return JsonResponse(after)


def login_user_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": str(request.user.pk) if request.user.is_authenticated else None})


async def async_auser_view(request: HttpRequest) -> JsonResponse:
    """Loads the user the async way (``auser``, Django 5+) and never touches ``request.user``."""
    auser = getattr(request, "auser", None)
    if auser is None:  # Django 4.2: no auser; load it as a token-auth middleware would
        return await async_direct_user_view(request)
    user = await auser()
    return JsonResponse({"user": str(user.pk) if user.is_authenticated else None})


async def async_direct_user_view(request: HttpRequest) -> JsonResponse:
    """Replaces the lazy ``request.user`` with the loaded user, as DRF and auth middlewares do."""
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user

    request.user = await sync_to_async(get_user)(request)
    return JsonResponse({"user": str(request.user.pk) if request.user.is_authenticated else None})


class _OddUser:
    """A custom user whose ``is_authenticated`` fails (a broken backend)."""

    pk = 7

    @property
    def is_authenticated(self) -> bool:
        raise RuntimeError("user backend unavailable")


def odd_user_view(request: HttpRequest) -> JsonResponse:
    request._cached_user = _OddUser()  # type: ignore[attr-defined]
    return JsonResponse({"ok": True})


def db_query_view(request: HttpRequest) -> JsonResponse:
    from django.contrib.auth.models import User

    return JsonResponse({"users": User.objects.count()})
