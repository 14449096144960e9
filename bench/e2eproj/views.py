from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse, JsonResponse


def json_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True, "items": [1, 2, 3]})


async def ajson_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True, "items": [1, 2, 3]})


def pid_view(request: HttpRequest) -> HttpResponse:
    """Which worker answered: the harness waits until every worker has."""
    return HttpResponse(str(os.getpid()))
