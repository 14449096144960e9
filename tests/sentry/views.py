"""Views the Sentry tests drive through Django's real handlers."""

from __future__ import annotations

import sentry_sdk
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, JsonResponse

from opskit import context


def _ids() -> dict[str, str | None]:
    record = context.current()
    assert record is not None
    return {"trace_id": record.trace_id, "span_id": record.span_id}


def boom(request: HttpRequest, pk: int = 0) -> HttpResponse:
    raise ZeroDivisionError("boom")


async def aboom(request: HttpRequest, pk: int = 0) -> HttpResponse:
    raise KeyError("aboom")


def message(request: HttpRequest) -> JsonResponse:
    sentry_sdk.capture_message("hello from a sync view")
    return JsonResponse(_ids())


async def amessage(request: HttpRequest) -> JsonResponse:
    # Captured on a worker thread: the record follows through sync_to_async.
    await sync_to_async(sentry_sdk.capture_message)("hello from an async view")
    return JsonResponse(_ids())


def ok(request: HttpRequest, pk: int = 0) -> JsonResponse:
    return JsonResponse(_ids())


def login_boom(request: HttpRequest) -> HttpResponse:
    user, _ = get_user_model().objects.get_or_create(username="sentry-user")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    raise ValueError("after login")
