"""Probe requests to responses: ``application/health+json`` or a small HTML page.

The same code answers the core middleware's intercept (before
``ALLOWED_HOSTS``, sessions and authentication) and the routed views in
``opskit.urls``.  The public body is the status alone; the checks are shown
only when asked for (``?verbose`` or an HTML page) and allowed by
``HEALTH.DETAILS``.  One check's status (``/readyz/<check>``) is a detail
too: without that permission every name, real or not, gets the same 404, so
check names cannot be probed.  Nothing from the request (Host, path, query) is ever
written into a response.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path
from django.views.decorators.csrf import csrf_exempt

from ..client import bearer_token_matches, loopback, proven_in
from ..conf import HealthSettings, get_settings
from .base import READY, STARTUP, Check, Result
from .runner import FAIL, Slot, get_runner, overall

__all__ = [
    "CONTENT_TYPE",
    "LIVE",
    "READY",
    "STARTUP",
    "arespond",
    "live_view",
    "ready_view",
    "respond",
    "startup_view",
]

LIVE = "live"
CONTENT_TYPE = "application/health+json"
_ALLOWED = ("GET", "HEAD")
_PUBLIC = {
    status: json.dumps({"status": status}, separators=(",", ":")).encode()
    for status in ("pass", "warn", "fail")
}


class _Probe:
    """What one probe request asks for."""

    __slots__ = ("details", "head", "html", "kind", "slots")

    def __init__(self, kind: str, slots: list[Slot], details: bool, html: bool, head: bool):
        self.kind = kind
        self.slots = slots
        self.details = details
        self.html = html
        self.head = head


def _prefers_html(accept: str) -> bool:
    """True when ``text/html`` outranks JSON in ``Accept`` (browsers)."""
    if "html" not in accept:
        return False
    best_html = best_json = -1.0
    for position, part in enumerate(accept.split(",")[:32]):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        score = q - position * 1e-3  # earlier wins a tie
        media = media.strip().lower()
        if media == "text/html":
            best_html = max(best_html, score)
        elif media.endswith("json"):
            best_json = max(best_json, score)
    return best_html > 0 and best_html > best_json


def _authorized(request: HttpRequest, s: HealthSettings, staff: bool | None) -> bool:
    """May this request see details?  ``staff=None``: ask ``request.user``."""
    if s.DETAILS == "always":
        return True
    if s.DETAILS != "when-authorized":
        return False  # "never", and any invalid value (opskit.E502)
    if bearer_token_matches(request, s.TOKEN):
        return True
    if staff is None:  # a routed view: the authentication middleware has run
        try:
            user = getattr(request, "user", None)
            return bool(getattr(user, "is_staff", False) and getattr(user, "is_active", False))
        except Exception:  # the session store or user table is the outage
            return False
    return staff


def _may_name_checks(request: HttpRequest, s: HealthSettings, staff: bool | None) -> bool:
    """May this request ask for one check (``/readyz/<check>``)?

    ``PUBLIC_CHECK_PATHS``, a loopback client the peer chain proves (the host
    itself, e.g. ``kubectl exec``; never one a header merely names), or
    whoever may see details.
    """
    return s.PUBLIC_CHECK_PATHS or proven_in(request, loopback()) or _authorized(request, s, staff)


def _query(request: HttpRequest) -> tuple[bool, list[str]]:
    """``(verbose, excluded names)``; a query Django refuses counts as none."""
    try:
        params = request.GET
        verbose = "verbose" in params
        values = params.getlist("exclude")[:32]
    except Exception:  # e.g. TooManyFieldsSent: a probe still gets its answer
        return False, []
    names: list[str] = []
    for value in values:
        names += [n.strip() for n in value.split(",") if n.strip()]
    return verbose, names


def _parse(
    request: HttpRequest, kind: str, only: str | None, staff: bool | None
) -> _Probe | HttpResponseBase:
    if request.method not in _ALLOWED:
        return HttpResponseNotAllowed(_ALLOWED)
    s = get_settings().HEALTH
    query = request.META.get("QUERY_STRING", "")
    accept = request.META.get("HTTP_ACCEPT", "")
    as_html = _prefers_html(accept) if accept else False
    verbose, excluded = _query(request) if query else (False, [])
    details = False
    if verbose or as_html:
        details = _authorized(request, s, staff)
    head = request.method == "HEAD"
    if kind == LIVE:
        if only is not None:
            return _not_found()
        return _Probe(kind, [], details, as_html, head)
    if only is not None and not _may_name_checks(request, s, staff):
        # Before the name is looked up: a real check and a made-up one
        # answer alike, so names cannot be probed.
        return _not_found()
    group = STARTUP if kind == STARTUP else READY
    slots = get_runner().select(group, only, excluded)
    if slots is None:
        return _not_found()
    return _Probe(kind, slots, details, as_html, head)


def _not_found() -> HttpResponse:
    response = HttpResponse(_PUBLIC[FAIL], status=404, content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


def _iso(wall: float) -> str:
    stamp = datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def check_entry(check: Check, result: Result) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "componentId": check.name,
        "componentType": check.component_type,
        "status": result.status,
        "critical": check.critical,
        "time": _iso(result.wall),
    }
    if result.value is not None:
        entry["observedValue"] = round(result.value, 3)
        entry["observedUnit"] = check.unit
    if result.output:
        entry["output"] = result.output
    return entry


def _render(probe: _Probe, pairs: Iterable[tuple[Check, Result]]) -> HttpResponse:
    pairs = list(pairs)
    status = overall(pairs)
    code = 503 if status == FAIL else 200
    if probe.html:
        body = _html_page(probe.kind, status, pairs if probe.details else None).encode()
        content_type = "text/html; charset=utf-8"
    elif probe.details:
        doc = {
            "status": status,
            "checks": {check.key: [check_entry(check, result)] for check, result in pairs},
        }
        body = json.dumps(doc, separators=(",", ":")).encode()
        content_type = CONTENT_TYPE
    else:
        body = _PUBLIC[status]
        content_type = CONTENT_TYPE
    response = HttpResponse(b"" if probe.head else body, status=code, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


def _html_page(kind: str, status: str, pairs: list[tuple[Check, Result]] | None) -> str:
    colour = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}[status]
    rows = ""
    if pairs:
        for check, result in pairs:
            value = "" if result.value is None else f"{result.value:.3g} {check.unit}"
            rows += (
                f"<tr><td>{html.escape(check.key)}</td><td>{result.status}</td>"
                f"<td>{'yes' if check.critical else 'no'}</td><td>{html.escape(value)}</td>"
                f"<td>{_iso(result.wall)}</td><td>{html.escape(result.output)}</td></tr>"
            )
        rows = (
            "<table><tr><th>check</th><th>status</th><th>critical</th><th>observed</th>"
            f"<th>time</th><th>output</th></tr>{rows}</table>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="robots" content="noindex"><title>health: '
        f"{status}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "td,th{padding:.2em .8em;text-align:left}</style></head><body>"
        f'<h1>{kind}: <span style="color:{colour}">{status}</span></h1>{rows}</body></html>'
    )


def _quiet(response: HttpResponseBase) -> HttpResponseBase:
    # Django logs every 4xx/5xx on ``django.request`` (ERROR for 503, mailed
    # to ADMINS by default); a failing probe is expected and already logged
    # once, as a transition.  This is the flag ``log_response`` itself sets.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _arrived(request: HttpRequest) -> float:
    """When the probe arrived, on ``time.monotonic()``'s clock.

    That is when the core middleware started the request's record, so a
    fresh worker's one-time set-up (the capabilities, the check runner)
    counts against the deadline as it does against the caller's timeout;
    without the record (the middleware not installed), now.
    """
    now = time.monotonic()
    start = getattr(getattr(request, "opskit", None), "start", None)
    if isinstance(start, float):
        return now - max(0.0, time.perf_counter() - start)
    return now


def respond(
    request: HttpRequest, kind: str, only: str | None = None, staff: bool | None = False
) -> HttpResponseBase:
    """Answer a probe, blocking at most one budget (sync servers)."""
    since = _arrived(request)
    probe = _parse(request, kind, only, staff)
    if isinstance(probe, HttpResponseBase):
        return _quiet(probe)
    pairs = get_runner().evaluate(probe.slots, since) if probe.slots else []
    return _quiet(_render(probe, pairs))


async def arespond(
    request: HttpRequest, kind: str, only: str | None = None, staff: bool | None = False
) -> HttpResponseBase:
    """Answer a probe on the event loop without blocking it while checks run."""
    since = _arrived(request)
    probe = _parse(request, kind, only, staff)
    if isinstance(probe, HttpResponseBase):
        return _quiet(probe)
    pairs = await get_runner().aevaluate(probe.slots, since) if probe.slots else []
    return _quiet(_render(probe, pairs))


# -- routed views (``opskit.urls``) -------------------------------------------


def _routed(request: HttpRequest, kind: str, only: str | None = None) -> HttpResponseBase:
    if not get_settings().HEALTH.ENABLED:
        raise Http404("health endpoints are disabled")
    # staff=None: the authentication middleware has run, so a staff user
    # may see details (the intercept only knows the bearer token).
    return respond(request, kind, only, staff=None)


@csrf_exempt
def live_view(request: HttpRequest) -> HttpResponseBase:
    """``/livez``: the process answers; no I/O, so an outage never restarts pods."""
    return _routed(request, LIVE)


@csrf_exempt
def ready_view(request: HttpRequest, check: str | None = None) -> HttpResponseBase:
    """``/readyz``, ``/healthz``, ``/health``, ``/readyz/<check>``: can serve traffic."""
    return _routed(request, READY, check)


@csrf_exempt
def startup_view(request: HttpRequest) -> HttpResponseBase:
    """``/startupz``: migrations are applied."""
    return _routed(request, STARTUP)


def url_patterns() -> list[URLPattern]:
    """The probes ``opskit.urls`` serves (``Capability.urls``)."""
    return [
        path("livez", live_view, name="health-live"),
        path("readyz", ready_view, name="health-ready"),
        path("readyz/<str:check>", ready_view, name="health-ready-check"),
        path("healthz", ready_view, name="healthz"),
        path("health", ready_view, name="health"),
        path("startupz", startup_view, name="health-startup"),
    ]
