"""What a client sees: 429 / 503 bodies, ``Retry-After`` and the RateLimit headers.

Headers follow draft-ietf-httpapi-ratelimit-headers (-10/-11): a
``RateLimit-Policy`` list item per limit (``"100/h";q=100;w=3600``) and a
``RateLimit`` item with the remaining quota and the seconds until it grows
(``"100/h";r=42;t=36``).  ``HEADERS = "legacy"`` adds the de facto
``X-RateLimit-Limit/Remaining/Reset`` of the tightest limit.
"""

from __future__ import annotations

import json
import math

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from ..conf import get_settings
from .core import Decision, retry_seconds

__all__ = ["add_headers", "error_response", "limited_response"]


def _wants_html(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    if not isinstance(accept, str) or "text/html" not in accept:
        return False
    return "application/json" not in accept and "+json" not in accept


def _body(request: HttpRequest, status: int, code: str, detail: str, retry: int) -> HttpResponse:
    if _wants_html(request):
        title = "Too Many Requests" if status == 429 else "Service Unavailable"
        body = (
            f"<!doctype html><html><head><meta charset=utf-8><title>{status} {title}</title>"
            f"</head><body><h1>{title}</h1><p>{detail}</p></body></html>"
        )
        response = HttpResponse(body, status=status, content_type="text/html; charset=utf-8")
    else:
        response = HttpResponse(
            json.dumps({"error": code, "detail": detail, "retry_after": retry}),
            status=status,
            content_type="application/json",
        )
    response["Retry-After"] = str(retry)
    response["Cache-Control"] = "no-store"
    response["Vary"] = "Accept"
    return response


def limited_response(request: HttpRequest, decision: Decision) -> HttpResponse:
    """429 Too Many Requests, with ``Retry-After`` and the usage headers."""
    retry = retry_seconds(decision.retry_after)
    response = _body(
        request,
        429,
        "rate_limited",
        f"Too many requests. Retry in {retry} second{'s' if retry != 1 else ''}.",
        retry,
    )
    add_headers(response, decision)
    return response


def error_response(request: HttpRequest, decision: Decision) -> HttpResponse:
    """503: the limiter itself failed and this limit fails closed."""
    retry = retry_seconds(decision.retry_after)
    return _body(
        request,
        503,
        "rate_limiter_unavailable",
        "The rate limiter is unavailable; this endpoint is closed until it returns.",
        retry,
    )


def add_headers(response: HttpResponseBase, decision: Decision) -> None:
    """Usage headers on any response (allowed ones too); appends across limiters."""
    if not decision.limits:
        return
    mode = get_settings().RATELIMIT.HEADERS
    if mode == "none":
        return
    policy = []
    state = []
    for st in decision.limits:
        name = st.rate.spec
        t = st.retry_after if st.retry_after > 0 else st.reset
        policy.append(f'"{name}";q={st.rate.limit};w={st.rate.window}')
        state.append(f'"{name}";r={max(0, st.remaining)};t={max(0, math.ceil(t))}')
    _append(response, "RateLimit-Policy", ", ".join(policy))
    _append(response, "RateLimit", ", ".join(state))
    if mode == "legacy" and not response.has_header("X-RateLimit-Limit"):
        tight = min(decision.limits, key=lambda st: (st.remaining, -st.retry_after))
        t = tight.retry_after if tight.retry_after > 0 else tight.reset
        response["X-RateLimit-Limit"] = str(tight.rate.limit)
        response["X-RateLimit-Remaining"] = str(max(0, tight.remaining))
        response["X-RateLimit-Reset"] = str(max(0, math.ceil(t)))


def _append(response: HttpResponseBase, header: str, value: str) -> None:
    old = response.get(header)
    response[header] = f"{old}, {value}" if old else value
