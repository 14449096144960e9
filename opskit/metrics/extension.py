"""The request hooks: one gauge step at start, one observation at the end.

The duration observed is ``record.duration``, the core middleware's clock:
metrics never time a request again.  Everything else (label bounding, child
lookup) happens once per distinct label tuple in
:class:`~opskit.metrics.definitions.Metrics`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from ..extensions import Extension, report_internal_error
from .definitions import get_metrics, is_multiprocess

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ..context import RequestRecord

__all__ = ["MetricsExtension"]


class MetricsExtension(Extension):
    """Feeds ``http_server_*`` and the per-request database metrics."""

    def __init__(self) -> None:
        try:
            bundle = get_metrics()
        except Exception as exc:  # a bad REGISTRY: system check opskit.E201
            report_internal_error("metrics registry", exc)
            bundle = None
        if bundle is None:
            self.active = False
            return
        self.metrics = bundle
        # Bound methods looked up once: the hot path is two calls.
        self._inc: Callable[[], object]
        self._dec: Callable[[], object]
        if is_multiprocess():
            self._inc = bundle.active_requests.inc
            self._dec = bundle.active_requests.dec
        else:  # the gauge reads ``in_flight``'s length when scraped
            self._inc = partial(bundle.in_flight.append, None)
            self._dec = bundle.in_flight.pop
        self._observe = bundle.observe_request

    def request_started(self, record: RequestRecord, request: HttpRequest) -> None:
        self._inc()

    def request_finished(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase | None
    ) -> None:
        try:
            self._dec()
        except IndexError:  # pragma: no cover - every start has its finish
            pass
        self._observe(record)
