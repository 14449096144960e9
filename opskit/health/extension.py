"""The health capability's hook into the core middleware.

``OpsKitMiddleware`` is first in ``MIDDLEWARE``, so its ``intercept`` hook
answers probes before ``SecurityMiddleware`` (HTTPS redirect),
``CommonMiddleware`` (``ALLOWED_HOSTS``, slash redirects), sessions, CSRF
and authentication see them: a kubelet's ``Host: 10.42.0.7:8000`` gets its
answer.  For every other request the cost is one set lookup on
``path_info`` (plus one ``rpartition`` when the path has no exact match).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..conf import get_settings
from ..extensions import Extension
from .views import LIVE, READY, STARTUP, arespond, respond

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    from ..context import RequestRecord

__all__ = ["HealthExtension"]


class HealthExtension(Extension):
    """Answer ``HEALTH.PATHS`` (and ``<readiness path>/<check>``) early."""

    def __init__(self) -> None:
        s = get_settings().HEALTH
        live, startup = set(s.LIVE_PATHS), set(s.STARTUP_PATHS)
        self.kinds: dict[str, str] = {}
        for path in s.PATHS:
            kind = LIVE if path in live else STARTUP if path in startup else READY
            self.kinds[path] = kind
            self.kinds[path.rstrip("/") + "/"] = kind
        self.paths = frozenset(self.kinds)
        #: Readiness paths that also answer ``<path>/<check>``.
        self.ready_paths = frozenset(p.rstrip("/") for p, k in self.kinds.items() if k == READY)

    def _match(self, record: RequestRecord, path: str) -> tuple[str, str | None] | None:
        if path in self.paths:
            # The route label for logs and metrics: the configured path.
            record.route = path
            record.view = "opskit.health"
            return self.kinds[path], None
        head, _, tail = path.rpartition("/")
        if head in self.ready_paths and tail:
            record.route = head + "/<check>"
            record.view = "opskit.health"
            return READY, tail
        return None

    def intercept(self, record: RequestRecord, request: HttpRequest) -> HttpResponseBase | None:
        match = self._match(record, request.path_info)
        if match is None:
            return None
        return respond(request, match[0], match[1], staff=False)

    async def aintercept(
        self, record: RequestRecord, request: HttpRequest
    ) -> HttpResponseBase | None:
        match = self._match(record, request.path_info)
        if match is None:
            return None
        return await arespond(request, match[0], match[1], staff=False)
