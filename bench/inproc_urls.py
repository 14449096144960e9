from django.http import HttpRequest, JsonResponse
from django.urls import path


def sync_view(request: HttpRequest, pk: int = 0) -> JsonResponse:
    return JsonResponse({"ok": True, "pk": pk})


async def async_view(request: HttpRequest, pk: int = 0) -> JsonResponse:
    return JsonResponse({"ok": True, "pk": pk})


def db_view(request: HttpRequest) -> JsonResponse:
    """Ten small queries: per-query hooks (sentry-sdk's cursor hook) show here."""
    from django.db import connection

    with connection.cursor() as cursor:
        for i in range(10):
            cursor.execute("SELECT %s", [i])
            cursor.fetchone()
    return JsonResponse({"ok": True})


urlpatterns = [
    path("db/", db_view),
    path("sync/", sync_view),
    path("sync/<int:pk>/", sync_view),
    path("async/", async_view),
    path("async/<int:pk>/", async_view),
]
