from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from .celeryapp import count_rows, flaky, log_something


def enqueue_three(request: HttpRequest) -> JsonResponse:
    ids = [
        count_rows.delay(2).id,
        count_rows.delay(3).id,
        log_something.delay("hello").id,
    ]
    return JsonResponse({"ids": ids})


def enqueue_flaky(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": flaky.delay().id})


def run_eagerly(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"result": count_rows.apply(args=(4,)).get()})


def call_out(request: HttpRequest) -> JsonResponse:
    """Outgoing calls through requests and httpx, with opskit's helpers."""
    import httpx
    import requests

    from opskit.propagation import httpx_event_hooks, requests_adapter

    url = request.GET["url"]
    session = requests.Session()
    session.mount("http://", requests_adapter())
    seen_requests = session.get(url, timeout=5).json()
    with httpx.Client(event_hooks=httpx_event_hooks()) as client:
        seen_httpx = client.get(url, headers={"X-Request-ID": "mine-12345"}).json()
    return JsonResponse({"requests": seen_requests, "httpx": seen_httpx})


urlpatterns = [
    path("call-out/", call_out),
    path("enqueue/", enqueue_three),
    path("flaky/", enqueue_flaky),
    path("eager/", run_eagerly),
]
