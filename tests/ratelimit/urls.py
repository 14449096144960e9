"""Views limited by the decorator and the mixin, sync and async."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views import View

from opskit.ratelimit import RateLimitMixin, ratelimit


def _body(request: HttpRequest) -> JsonResponse:
    d = getattr(request, "ratelimit", None)
    return JsonResponse(
        {"outcome": d.outcome if d else None, "remaining": d.remaining if d else None}
    )


@ratelimit(rate="3/m", key="ip")
def ip_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="3/m", key="ip")
async def aip_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="2/s;3/h", key="ip")
def multi_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="2/s;3/h", key="ip")
async def amulti_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="ip", block=False)
def soft_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="ip", shadow=True)
def shadow_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="ip", fail_open=False)
def closed_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="ip", fail_open=False)
async def aclosed_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="ip")
def open_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="user")
def user_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="1/m", key="header:X-Api-Key", methods=["POST"])
def header_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="2/m", key="ip", strict=True)
def strict_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


@ratelimit(rate="2/m")
async def auser_view(request: HttpRequest) -> JsonResponse:
    return _body(request)


class MixinView(RateLimitMixin, View):
    rate = "2/m"
    key = "ip"

    def get(self, request: HttpRequest) -> HttpResponse:
        return _body(request)


class AsyncMixinView(RateLimitMixin, View):
    rate = "2/m"
    key = "ip"

    async def get(self, request: HttpRequest) -> HttpResponse:
        return _body(request)


urlpatterns = [
    path("ip/", ip_view),
    path("aip/", aip_view),
    path("multi/", multi_view),
    path("amulti/", amulti_view),
    path("soft/", soft_view),
    path("shadow/", shadow_view),
    path("closed/", closed_view),
    path("aclosed/", aclosed_view),
    path("open/", open_view),
    path("user/", user_view),
    path("header/", header_view),
    path("strict/", strict_view),
    path("auser/", auser_view),
    path("mixin/", MixinView.as_view()),
    path("amixin/", AsyncMixinView.as_view()),
]
