"""The query monitor's hooks into the core middleware."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from ..client import Network, _in, _parse_ip, parse_networks
from ..conf import get_settings, on_reload
from ..extensions import Extension
from .scope import new_request_stats
from .stats import QueryStats

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponseBase

    from ..context import RequestRecord

__all__ = ["QueriesExtension", "server_timing"]


@lru_cache(maxsize=1)
def _timing_networks() -> tuple[Network, ...]:
    try:
        return parse_networks(get_settings().QUERIES.SERVER_TIMING_IPS)
    except ValueError:
        return ()  # reported by opskit.E401; nobody gets the header


on_reload(_timing_networks.cache_clear)


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
        self.server_timing = get_settings().QUERIES.SERVER_TIMING

    def request_started(self, record: RequestRecord, request: HttpRequest) -> None:
        record.db = new_request_stats(record)

    def process_response(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase
    ) -> None:
        if not self.server_timing or record.client_address is None:
            return
        addr = _parse_ip(record.client_address)
        if addr is None or not _in(addr, _timing_networks()):
            return
        value = server_timing(record)
        existing = response.get("Server-Timing")
        response["Server-Timing"] = f"{existing}, {value}" if existing else value

    def request_finished(
        self, record: RequestRecord, request: HttpRequest, response: HttpResponseBase | None
    ) -> None:
        stats = record.db
        # No query, nothing to report: skip the pattern search.
        if isinstance(stats, QueryStats) and stats.count:
            stats.close()
