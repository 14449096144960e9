"""``/metrics``: the exposition, for allowed addresses or a bearer token only.

Metrics name routes, databases and error types, so the endpoint is closed by
default: only loopback may read it until ``ALLOWED_IPS`` or ``BEARER_TOKEN``
say otherwise.  The address must be proven by the peer chain
(:func:`opskit.client.proven_in`): behind a trusted proxy the real client is
checked, never the proxy, and a header the chain cannot resolve opens nothing.

The view is synchronous on purpose: building the exposition (and, in
multi-process mode, reading every worker's files) is blocking work that
belongs in a thread, not on an event loop.
"""

from __future__ import annotations

import glob
import os
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, path
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from ..client import bearer_token_matches, networks, proven_in
from ..conf import get_settings
from ..extensions import report_internal_error
from .definitions import get_metrics, is_multiprocess

__all__ = ["is_allowed", "metrics_view", "scrape_registry"]


def is_allowed(request: HttpRequest) -> bool:
    """Whether this request may read the metrics (address or token)."""
    if proven_in(request, networks(get_settings().METRICS.ALLOWED_IPS)):
        return True
    return bearer_token_matches(request, get_settings().METRICS.BEARER_TOKEN)


def _settled(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:  # removed since the glob (a dead worker's file)
        return False


class SettledFilesCollector(MultiProcessCollector):  # type: ignore[misc]
    """prometheus-client's MultiProcessCollector, minus files still being created.

    A worker creates its file and sizes it in two steps; a scrape between the
    two read a 0-byte file and prometheus-client raised ``struct.error``,
    failing the whole scrape (seen in the rehearsal). Such a file holds no
    value yet, so leaving it out loses nothing.
    """

    def collect(self) -> Any:
        files = glob.glob(os.path.join(self._path, "*.db"))
        return self.merge([f for f in files if _settled(f)], accumulate=True)  # type: ignore[no-untyped-call]


def scrape_registry() -> CollectorRegistry:
    """The registry to expose: the configured one, or the workers' files merged."""
    bundle = get_metrics()
    if bundle is None:
        raise Http404("metrics are disabled")
    if not is_multiprocess():
        return bundle.registry
    from .collector import SystemCollector, multiprocess_dir

    registry = CollectorRegistry()
    path = multiprocess_dir()
    SettledFilesCollector(registry, path=path)  # type: ignore[no-untyped-call]
    registry.register(SystemCollector(multiprocess_dir=path))
    return registry


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus (or, by ``Accept``, OpenMetrics) exposition."""
    if not get_settings().METRICS.ENABLED:
        raise Http404("metrics are disabled")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not is_allowed(request):
        response = HttpResponse(
            b"forbidden\n", status=403, content_type="text/plain; charset=utf-8"
        )
        response["Cache-Control"] = "no-store"
        return response
    encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
    try:
        body = encoder(scrape_registry())
    except Http404:
        raise
    except Exception as exc:  # a bad REGISTRY (opskit.E201), an unreadable directory
        report_internal_error("metrics exposition", exc)
        response = HttpResponse(
            b"metrics unavailable\n", status=503, content_type="text/plain; charset=utf-8"
        )
        response["Cache-Control"] = "no-store"
        return response
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    response["Vary"] = "Accept"
    return response


def url_patterns() -> list[URLPattern]:
    """The endpoint ``opskit.urls`` serves (``Capability.urls``)."""
    return [path("metrics", metrics_view, name="metrics")]
