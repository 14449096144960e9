"""The query monitor's hooks into the core middleware."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import networks, proven_in
from ..conf import get_settings
from ..extensions import Extension
from . import eager
from .scope import new_request_stats
from .stats import QueryStats

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ..context import RequestRecord

__all__ = ["QueriesExtension", "server_timing"]

#: Where a request's eager-load tracking rides on the record.
EAGER_KEY = "queries.eager"


def server_timing(record: RequestRecord) -> str:
    """``db;dur=..;desc="N queries", app;dur=..`` (milliseconds)."""
    db = record.db
    count = db.count if db is not None else 0
    db_ms = db.duration * 1000.0 if db is not None else 0.0
    app_ms = record.duration * 1000.0
    noun = "query" if count == 1 else "queries"
    return f'db;dur={db_ms:.1f};desc="{count} {noun}", app;dur={app_ms:.1f}'


class QueriesExtension(Extension):
    """Create the request's statistics; report N+1 at the end; Server-Timing."""

    def __init__(self) -> None:
        s = get_settings().QUERIES
        self.server_timing = s.SERVER_TIMING
        self.eager = s.UNUSED_EAGER_LOADS
        eager.set_enabled(self.eager)

    def request_started(self, record: RequestRecord, request: HttpRequest) -> None:
        record.db = new_request_stats(record)
        if self.eager:
            record.extra[EAGER_KEY] = eager.begin()

    def process_response(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        if not self.server_timing or not proven_in(
            record, networks(get_settings().QUERIES.SERVER_TIMING_IPS)
        ):
            return
        value = server_timing(record)
        existing = response.get("Server-Timing")
        response["Server-Timing"] = f"{existing}, {value}" if existing else value

    def request_finished(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase | None
    ) -> None:
        stats = record.db
        if isinstance(stats, QueryStats):
            if stats.count:  # no query, nothing to report: skip the pattern search
                stats.close()
            stats.release()
        state = record.extra.pop(EAGER_KEY, None)
        if state is not None:
            eager.report(eager.end(state), record)
