"""What the query monitor reports: slow-query lines and N+1 patterns.

:class:`QueryReporter` holds the reporting configuration derived from
``QUERIES`` (slow-query threshold and log limit, the parsed ALLOW list, the
production gates, pagination suppression).  It is built once per settings
load and shared by every :class:`~opskit.queries.QueryStats`, which only
accumulates: a request or task pays for a reference, not for re-reading the
settings.  The reporter keeps no per-scope state; what a scope has already
logged is the scope's and is passed in.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .. import context, signals
from ..conf import QueriesSettings, get_settings, on_reload
from . import fingerprints as fp_mod
from .callsite import call_site, format_site, site_matches
from .fingerprints import Fingerprint

if TYPE_CHECKING:
    from ..context import DBStats, RequestRecord
    from .stats import Entry

__all__ = ["NPlusOne", "QueryReporter", "reporter_for"]

logger = logging.getLogger("opskit.queries")


class NPlusOne:
    """A reported (or, for the test helpers, found) repeat pattern."""

    __slots__ = ("alias", "call_site", "count", "duration", "fingerprint", "sql")

    def __init__(self, entry: Entry) -> None:
        self.alias = entry.alias
        self.fingerprint = entry.fp.key
        self.count = entry.repeats
        self.duration = entry.duration
        self.sql = entry.fp.sample
        self.call_site = format_site(entry.site)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self) -> str:
        return f"<NPlusOne {self.count}x {self.fingerprint} at {self.call_site}>"


class QueryReporter:
    """The ``QUERIES`` reporting configuration and the code that reports.

    ``settings`` is the section it was built from; the statistics read their
    own (accumulation) settings from it too, so a scope never looks the
    settings up itself.
    """

    __slots__ = (
        "allow_keys",
        "allow_sites",
        "max_fingerprints",
        "min_ms",
        "min_share",
        "settings",
        "slow_limit",
        "slow_s",
        "suppress_pagination",
        "threshold",
    )

    def __init__(self, settings: QueriesSettings) -> None:
        s = self.settings = settings
        # What every scope copies (read here once, not per request).
        self.threshold = s.N_PLUS_ONE_THRESHOLD
        self.max_fingerprints = max(1, s.MAX_FINGERPRINTS)
        self.slow_s = s.SLOW_QUERY_MS / 1000.0 if s.SLOW_QUERY_MS is not None else float("inf")
        self.slow_limit = s.SLOW_QUERY_LOG_LIMIT
        self.min_ms = s.N_PLUS_ONE_MIN_MS
        self.min_share = s.N_PLUS_ONE_MIN_SHARE
        self.suppress_pagination = s.SUPPRESS_PAGINATION
        entries = [a.strip() for a in s.ALLOW if a and a.strip() and not a.strip().startswith(":")]
        self.allow_keys = frozenset(a.lower() for a in entries)
        self.allow_sites = tuple(entries)

    # -- slow queries ------------------------------------------------------

    def slow_query(
        self,
        record: RequestRecord | None,
        sql: str,
        fp: Fingerprint | None,
        duration: float,
        alias: str,
        logged: int,
    ) -> bool:
        """Log (while ``logged`` is under the limit) and signal one slow query.

        Returns whether a log line was written, for the scope to count.
        """
        if fp is None:
            fp = fp_mod.fingerprint(sql)
        site = format_site(call_site())
        # A log handler or signal receiver that queries is not the application's work.
        with context.queries_hidden():
            return self._report_slow(record, sql, fp, duration, alias, site, logged)

    def _report_slow(
        self,
        record: RequestRecord | None,
        sql: str,
        fp: Fingerprint,
        duration: float,
        alias: str,
        site: str | None,
        logged: int,
    ) -> bool:
        log = logged < self.slow_limit
        if log:
            try:
                logger.warning(
                    "slow query %.1f ms on %s at %s: %s",
                    duration * 1000.0,
                    alias,
                    site,
                    fp.sample,
                    extra={
                        "event": "slow_query",
                        "fingerprint": fp.key,
                        "sql": fp.sample,
                        "duration_ms": round(duration * 1000.0, 3),
                        "alias": alias,
                        "call_site": site,
                        "request_id": record.request_id if record is not None else None,
                        "route": _route(record),
                    },
                )
            except Exception:  # a broken handler never breaks the query
                pass
        _send(
            signals.slow_query,
            alias=alias,
            duration=duration,
            fingerprint=fp.key,
            sql=fp.sample,
            call_site=site,
            record=record,
        )
        return log

    # -- N+1 patterns ------------------------------------------------------

    def is_allowed(self, entry: Entry) -> bool:
        """Is the entry's fingerprint or call site on the ALLOW list?"""
        if entry.fp.key in self.allow_keys:
            return True
        return any(site_matches(entry.site, a) for a in self.allow_sites)

    def patterns(self, repeats: list[Entry], total: float, gate: bool) -> list[NPlusOne]:
        """The ``repeats`` that are N+1 patterns, ``total`` the scope's database time."""
        out = []
        for entry in repeats:
            if self.suppress_pagination and entry.fp.pagination:
                continue
            if self.is_allowed(entry):
                continue
            if gate:
                if entry.duration * 1000.0 < self.min_ms:
                    continue
                if self.min_share > 0 and (total <= 0 or entry.duration / total < self.min_share):
                    continue
            out.append(NPlusOne(entry))
        return out

    def n_plus_one(
        self, stats: DBStats, record: RequestRecord | None, found: list[NPlusOne]
    ) -> None:
        """Log and signal each pattern, counting it in ``stats.n_plus_one`` first."""
        # A log handler or signal receiver that queries (Sentry building
        # its event) is not the application's work.
        with context.queries_hidden():
            for item in found:
                stats.n_plus_one += 1
                self._report_n_plus_one(record, item)

    def _report_n_plus_one(self, record: RequestRecord | None, item: NPlusOne) -> None:
        try:
            logger.warning(
                "N+1 queries: %d x %s at %s (%.1f ms): %s",
                item.count,
                item.fingerprint,
                item.call_site,
                item.duration * 1000.0,
                item.sql,
                extra={
                    "event": "n_plus_one",
                    "fingerprint": item.fingerprint,
                    "count": item.count,
                    "duration_ms": round(item.duration * 1000.0, 3),
                    "sql": item.sql,
                    "alias": item.alias,
                    "call_site": item.call_site,
                    "request_id": record.request_id if record is not None else None,
                    "route": _route(record),
                },
            )
        except Exception:
            pass
        _send(
            signals.n_plus_one_detected,
            alias=item.alias,
            fingerprint=item.fingerprint,
            count=item.count,
            duration=item.duration,
            sql=item.sql,
            call_site=item.call_site,
            record=record,
        )


#: Reporters by ``id()`` of their settings; ``None`` keys the loaded
#: ``QUERIES``'s.  Emptied when the settings are reloaded.
_reporters: dict[int | None, QueryReporter] = {}


def reporter_for(settings: QueriesSettings | None = None) -> QueryReporter:
    """The shared reporter of ``settings`` (default: the loaded ``QUERIES``)."""
    if settings is None:
        reporter = _reporters.get(None)
        if reporter is None:
            reporter = _reporters[None] = QueryReporter(get_settings().QUERIES)
        return reporter
    reporter = _reporters.get(id(settings))
    if reporter is None or reporter.settings is not settings:
        if len(_reporters) > 8:  # a few explicit settings objects (benchmarks) at most
            _reporters.clear()
        reporter = _reporters[id(settings)] = QueryReporter(settings)
    return reporter


on_reload(_reporters.clear)


def _route(record: RequestRecord | None) -> str | None:
    if record is None:
        return None
    return record.route or record.view or record.path or None


def _send(signal: Any, **kwargs: Any) -> None:
    # The sender stays the statistics class receivers may filter on.
    from .stats import QueryStats

    signals.send(signal, QueryStats, **kwargs)
