"""How capabilities plug into the one core middleware.

Each capability ships an :class:`Extension`; the core middleware calls the
enabled ones at fixed points of the request with the shared
:class:`~opskit.context.RequestRecord`.  The core names them by dotted path
and imports them lazily, so capabilities depend on the core and never the
other way round, and nothing is imported before the first request.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from .conf import get_section, on_reload

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from .context import RequestRecord

__all__ = ["Extension", "get_extensions", "report_internal_error"]

internal_logger = logging.getLogger("opskit.internal")


class Extension:
    """A capability's hooks into the request; override what you need.

    Hooks must be quick and must not raise: the middleware catches and
    reports anything they raise, so opskit can never break a response, but a
    raising hook loses its own output.
    """

    def intercept(self, record: RequestRecord, request: HttpRequest) -> HttpResponseBase | None:
        """Answer the request before the rest of the stack (probes)."""
        return None

    async def aintercept(
        self, record: RequestRecord, request: HttpRequest
    ) -> HttpResponseBase | None:
        """Optional async twin of :meth:`intercept`, used under ASGI.

        Override it (as well as ``intercept``) when answering may wait, so
        the wait does not block the event loop; the default calls
        ``intercept``.
        """
        return self.intercept(record, request)

    def request_started(self, record: RequestRecord, request: HttpRequest) -> None:
        """The record exists and is active; the view has not run."""

    def process_response(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        """The response is about to leave the middleware: add headers here."""

    def request_finished(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase | None
    ) -> None:
        """The response is complete (after the last chunk when streaming).

        ``record.end`` is set; ``response`` is ``None`` when an exception
        escaped the stack (it is re-raised after the hooks have run).
        """


def _enabled(section: str | None) -> bool:
    if section is None:
        return True
    sec = get_section(section)
    if sec is None:
        return False
    if hasattr(sec, "ENABLED"):
        return bool(sec.ENABLED)
    return True


def _overrides(ext: Extension, name: str) -> bool:
    return getattr(type(ext), name) is not getattr(Extension, name)


class Pipeline:
    """The enabled extensions, split per hook so no-op hooks cost nothing."""

    def __init__(self, extensions: list[Extension]) -> None:
        self.extensions = extensions
        self.intercept = [e for e in extensions if _overrides(e, "intercept")]
        #: Those of ``intercept`` with a native ``aintercept`` (ASGI path).
        self.aintercept = [e for e in self.intercept if _overrides(e, "aintercept")]
        self.started = [e for e in extensions if _overrides(e, "request_started")]
        self.response = [e for e in extensions if _overrides(e, "process_response")]
        self.finished = [e for e in extensions if _overrides(e, "request_finished")]


@lru_cache(maxsize=1)
def get_extensions() -> Pipeline:
    """Instantiate the enabled capabilities' extensions once (per settings),
    in their ``extension_order``: the query monitor closes its statistics
    before the slow-request check, metrics and Sentry read them, and the log
    line is written last so it carries everything."""
    from .capabilities import extension_paths

    instances: list[Extension] = []
    for section, path in extension_paths():
        if not _enabled(section):
            continue
        cls = import_string(path)
        instance = cls()
        if getattr(instance, "active", True):
            instances.append(instance)
    return Pipeline(instances)


on_reload(get_extensions.cache_clear)


def report_internal_error(where: str, exc: BaseException) -> None:
    """Say once, quietly, that an opskit hook failed; never raise."""
    try:
        internal_logger.warning("opskit %s failed: %s", where, type(exc).__name__, exc_info=exc)
    except Exception:  # pragma: no cover - a broken handler must not break us
        pass
