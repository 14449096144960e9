"""The blog's own look for the answers opskit and Django give in plain form.

opskit's rate limiter answers a browser with a bare 429 (or 503) page whose
text counts seconds; the blog re-renders it in its layout and in words
("Try again in 15 minutes"), keeping the status and every header opskit set
(``Retry-After``, ``RateLimit``, ``RateLimit-Policy``).  JSON answers (the
API, or a client asking for JSON) pass through untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

#: Headers of the original answer that the styled page keeps.
KEPT_HEADERS = ("Retry-After", "RateLimit", "RateLimit-Policy", "Cache-Control", "Vary")


def humanize_seconds(seconds: int) -> str:
    """``899`` -> ``"15 minutes"``: rounded up, so the visitor never comes back early."""
    seconds = max(1, seconds)
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = math.ceil(seconds / size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def message(request: HttpRequest, status: int, title: str, text: str) -> HttpResponse:
    """A short page in the blog's layout (400, 429, 503)."""
    return render(request, "blog/message.html", {"title": title, "text": text}, status=status)


def _styled(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if response.status_code not in (429, 503) or request.path.startswith("/api/"):
        return response
    if not response.get("Content-Type", "").startswith("text/html"):
        return response
    retry = response.get("Retry-After", "")
    wait = humanize_seconds(int(retry)) if retry.isdigit() else "a moment"
    if response.status_code == 429:
        styled = message(
            request,
            429,
            "Too Many Requests",
            f"Too many attempts from your address. Try again in {wait}.",
        )
    else:
        styled = message(
            request,
            503,
            "Service Unavailable",
            f"This page is closed while the rate limiter is unavailable. Try again in {wait}.",
        )
    for header in KEPT_HEADERS:
        if header in response:
            styled[header] = response[header]
    return styled


class StyledErrorPages:
    """Middleware: the rate limiter's HTML 429/503 in the blog's layout."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return _styled(request, self.get_response(request))


@lru_cache(maxsize=1)
def _project_links() -> list[tuple[str, str]]:
    """The Project-URLs of the installed django-opskit (pyproject.toml), in order."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        entries = metadata("django-opskit").get_all("Project-URL") or []
    except PackageNotFoundError:
        return []
    links = []
    for entry in entries:
        label, _, url = entry.partition(",")
        if url.strip().startswith("https://"):
            links.append((label.strip(), url.strip()))
    return links


def project_links(request: HttpRequest) -> dict[str, object]:
    """Template context processor: the footer's links to opskit's docs and code."""
    return {"opskit_links": _project_links()}
