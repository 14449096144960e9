from django.http import HttpRequest, JsonResponse
from django.urls import path


def sync_view(request: HttpRequest, pk: int = 0) -> JsonResponse:
    return JsonResponse({"ok": True, "pk": pk})


async def async_view(request: HttpRequest, pk: int = 0) -> JsonResponse:
    return JsonResponse({"ok": True, "pk": pk})


urlpatterns = [
    path("sync/", sync_view),
    path("sync/<int:pk>/", sync_view),
    path("async/", async_view),
    path("async/<int:pk>/", async_view),
]
