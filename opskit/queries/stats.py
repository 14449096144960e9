"""Per-request (or per-scope) query statistics, filled by the hook.

:class:`QueryStats` *is* the record's :class:`~opskit.context.DBStats` (a
subclass with private slots), so every reader sees ``count``, ``duration``,
``by_alias``, ``n_plus_one`` and ``slow_queries`` while the monitor keeps its
richer state next to them: one :class:`Entry` per fingerprint (at most
``MAX_FINGERPRINTS``; further shapes are only counted) and the slowest query.
Memory is therefore bounded whatever the number of queries.

This module accumulates; what is logged and signalled, and the settings that
decide it, are the shared :class:`~.report.QueryReporter`'s.
"""

from __future__ import annotations

import sys
from types import CodeType, FrameType
from typing import Any

from .. import context
from ..conf import QueriesSettings
from ..context import DBStats, RequestRecord
from . import fingerprints as fp_mod
from .callsite import CallSite, call_site, in_error_reporter
from .fingerprints import Fingerprint
from .report import NPlusOne, reporter_for

__all__ = ["Entry", "ErrorPathStats", "NPlusOne", "QueryStats"]


_NEVER = sys.maxsize


class Entry:
    """One fingerprint's repeats in a scope.

    ``batched`` counts the statements that belong to one bulk call
    (``executemany``, the batches of ``bulk_create``/``bulk_update``) or to
    an error reporter building its event: they are in ``count`` (the query
    total) but never in the repeats of an N+1.
    ``check_at`` is the count at which the hot path looks again.
    """

    __slots__ = ("alias", "batched", "check_at", "count", "duration", "fp", "site")

    def __init__(self, fp: Fingerprint, alias: str, check_at: int = _NEVER) -> None:
        self.fp = fp
        self.alias = alias
        self.count = 0
        self.batched = 0
        self.check_at = check_at
        self.duration = 0.0
        self.site: CallSite | None = None

    @property
    def repeats(self) -> int:
        """Executions outside bulk calls and error reports: what an N+1 is judged on."""
        return self.count - self.batched


_bulk_codes: frozenset[CodeType] | None = None


def _in_bulk_call() -> bool:
    """Is a ``QuerySet.bulk_create``/``bulk_update`` call on the stack?

    Only asked when a write statement reaches the threshold, so the walk
    costs nothing on the hot path.  The async forms run the sync ones in a
    thread, where this stack is.
    """
    global _bulk_codes
    codes = _bulk_codes
    if codes is None:
        from django.db.models.query import QuerySet

        codes = _bulk_codes = frozenset(
            {QuerySet.bulk_create.__code__, QuerySet.bulk_update.__code__}
        )
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


class QueryStats(DBStats):
    """The statistics of one request or monitored scope.

    ``report`` scopes log slow queries and N+1 patterns; test-helper scopes
    (``report=False``) only collect.  ``observers`` are enclosing scopes that
    also receive every query (a test helper around a test-client request).
    What is reported, and how, is the shared :class:`~.report.QueryReporter`'s,
    built once per settings load: a scope per request or task costs a
    reference and a few assignments, not a reading of the settings.
    """

    __slots__ = (
        "_capture_first",
        "_check_at",
        "_closed",
        "_entries",
        "_n_entries",
        "_no_purge",
        "_reporter",
        "_slow_logged",
        "_slow_s",
        "_threshold",
        "_track",
        "dropped",
        "name",
        "observers",
        "record",
        "report",
        "slowest",
        "slowest_alias",
        "slowest_duration",
        "max_fingerprints",
        "found",
    )

    def __init__(
        self,
        record: RequestRecord | None = None,
        *,
        report: bool = True,
        capture_first: bool = False,
        threshold: int | None = None,
        settings: QueriesSettings | None = None,
        name: str | None = None,
    ) -> None:
        # DBStats' fields, set here rather than through ``super().__init__()``:
        # one call less on every request.
        self.count = 0
        self.duration = 0.0
        self.by_alias: dict[str, list[float]] = {}
        self.n_plus_one = 0
        self.slow_queries = 0
        reporter = self._reporter = reporter_for(settings)
        self.record = record
        self.name = name
        self.report = report
        self.observers: list[QueryStats] = []
        if threshold is None:
            threshold = reporter.threshold
        self._threshold = threshold
        # Threshold 0 turns N+1 detection off: count and time only, no
        # fingerprint per query (the cheapest mode).
        self._track = threshold > 0 or capture_first
        self._check_at = threshold if threshold > 0 else _NEVER
        self._capture_first = capture_first
        # A copy: the hot path compares it on every query, one lookup only.
        self._slow_s = reporter.slow_s
        self._slow_logged = 0
        self.max_fingerprints = reporter.max_fingerprints
        self._entries: dict[str, dict[str, Entry]] = {}
        self._n_entries = 0
        self._no_purge = False
        self.dropped = 0
        self.slowest: Fingerprint | str | None = None
        self.slowest_alias: str | None = None
        self.slowest_duration = 0.0
        self._closed = False
        self.found: list[NPlusOne] = []

    # -- the hot path ------------------------------------------------------

    def add(self, sql: str, duration: float, alias: str, many: bool = False) -> None:
        """Account one executed statement (called by the hook).

        ``many`` (an ``executemany``) is one bulk call: counted and timed,
        never a repeat of an N+1.
        """
        self.count += 1
        self.duration += duration
        per_alias = self.by_alias.get(alias)
        if per_alias is None:
            self.by_alias[alias] = [1, duration]
        else:
            per_alias[0] += 1
            per_alias[1] += duration
        fp: Fingerprint | None = None
        if self._track:
            if sql.__class__ is not str:  # psycopg sql.Composed and friends
                sql = str(sql)
            cache = fp_mod.current_cache
            if cache is None:
                cache = fp_mod.get_cache()
            fp = cache(sql) if len(sql) <= 8192 else fp_mod.compute(sql)
            if not fp.transaction:
                entries = self._entries.get(alias)
                if entries is None:
                    entries = self._entries[alias] = {}
                entry = entries.get(fp.key)
                if entry is None:
                    entry = self._new_entry(entries, fp, alias)
                if entry is not None:
                    entry.count += 1
                    entry.duration += duration
                    if many:
                        entry.batched += 1
                        entry.check_at += 1
                    elif entry.count >= entry.check_at:
                        self._reached(entry)
        if duration > self.slowest_duration:
            self.slowest_duration = duration
            self.slowest = fp if fp is not None else sql
            self.slowest_alias = alias
        if duration >= self._slow_s:
            self._slow_query(sql, fp, duration, alias)
        if self.observers:
            for obs in self.observers:
                obs.add(sql, duration, alias, many)

    def _new_entry(self, entries: dict[str, Entry], fp: Fingerprint, alias: str) -> Entry | None:
        if self._n_entries >= self.max_fingerprints and not self._purge_singletons():
            self.dropped += 1
            return None
        self._n_entries += 1
        entry = entries[fp.key] = Entry(fp, alias, self._check_at)
        if self._capture_first:
            entry.site = call_site()
        return entry

    def _reached(self, entry: Entry) -> None:
        """A shape reached the threshold: a bulk call's batches, or a pattern.

        A write that reaches it inside ``bulk_create``/``bulk_update`` makes
        the repeats so far that call's batches, and each further write of
        the shape is checked the same way; a loop of single writes
        (``.save()``, ``.create()``) is still a pattern.  Reads are never
        batched by the ORM's bulk calls, so they are not checked.  A shape
        that reaches it while sentry-sdk builds an event (``repr()`` of a
        frame variable that queries) is discounted the same way.
        """
        if (entry.fp.write and _in_bulk_call()) or in_error_reporter(2):
            entry.batched = entry.count
            entry.check_at = entry.count + 1
            return
        if entry.repeats < self._threshold:
            entry.check_at = entry.batched + self._threshold
            return
        if entry.site is None:
            entry.site = call_site()
        entry.check_at = _NEVER

    def _purge_singletons(self) -> bool:
        """Make room by forgetting shapes seen once (long scopes, many one-offs).

        A loop that is an N+1 has repeated by the time the cap is reached,
        or starts afterwards; a shape seen once is the likeliest one-off.
        Gives up for good when a purge frees less than a quarter of the cap,
        so a scope of many genuinely repeated shapes does not purge on every
        new one.  Test-helper scopes keep everything they can.
        """
        if self._capture_first or self._no_purge:
            return False
        freed = 0
        for entries in self._entries.values():
            singles = [k for k, e in entries.items() if e.count <= 1]
            for k in singles:
                del entries[k]
            freed += len(singles)
        self._n_entries -= freed
        self.dropped += freed
        if freed * 4 < self.max_fingerprints:
            self._no_purge = True
        return freed > 0

    # -- reporting (the reporter logs and signals; the counts are this scope's)

    def _slow_query(self, sql: str, fp: Fingerprint | None, duration: float, alias: str) -> None:
        if in_error_reporter(2):
            return
        self.slow_queries += 1
        if self.report and self._reporter.slow_query(
            self.record, sql, fp, duration, alias, self._slow_logged
        ):
            self._slow_logged += 1

    # -- reading ---------------------------------------------------------

    def repeats(self, threshold: int | None = None) -> list[Entry]:
        """Entries repeated at least ``threshold`` times, most frequent first."""
        t = self._threshold if threshold is None else threshold
        if t <= 0:
            return []
        out = [e for entries in self._entries.values() for e in entries.values() if e.repeats >= t]
        out.sort(key=lambda e: (-e.repeats, -e.duration))
        return out

    def entries(self, using: str | None = None) -> list[Entry]:
        """Every tracked fingerprint (of one alias), most frequent first."""
        out = [
            e
            for alias, entries in self._entries.items()
            if using is None or alias == using
            for e in entries.values()
        ]
        out.sort(key=lambda e: (-e.count, -e.duration))
        return out

    def is_allowed(self, entry: Entry) -> bool:
        """Is the entry's fingerprint or call site on the ALLOW list?"""
        return self._reporter.is_allowed(entry)

    def patterns(self, threshold: int | None = None, *, gate: bool = True) -> list[NPlusOne]:
        """The N+1 patterns of this scope (allow list, pagination and gate applied)."""
        return self._reporter.patterns(self.repeats(threshold), self.duration, gate)

    def close(self) -> list[NPlusOne]:
        """End of the scope: report each N+1 pattern once (idempotent)."""
        if self._closed:
            return self.found
        self._closed = True
        if not self.report:
            return self.found
        # No shape can repeat more often than the scope ran queries.
        found = self.patterns() if self.count >= self._threshold > 0 else []
        self.found = found
        if found:
            self._reporter.n_plus_one(self, self.record, found)
        return found

    def release(self) -> None:
        """Drop the reference to the record once its request or task run is over.

        ``record.db`` is this object and ``self.record`` its record: a
        reference cycle per request, which only the cyclic garbage collector
        would free (a gen-0 collection every few hundred requests, on the
        request path, and garbage left for the older generations under
        ASGI, where Django itself leaves none).  The record keeps its
        statistics; they no longer need the record.  (A ``monitor()``
        block keeps it: its caller may read ``stats.record`` afterwards.)
        """
        self.record = None

    def slowest_query(self) -> dict[str, Any] | None:
        """``{fingerprint, sql, duration_ms, alias}`` of the slowest query."""
        slowest = self.slowest
        if slowest is None:
            return None
        fp = slowest if isinstance(slowest, Fingerprint) else fp_mod.fingerprint(slowest)
        return {
            "fingerprint": fp.key,
            "sql": fp.sample,
            "duration_ms": round(self.slowest_duration * 1000.0, 3),
            "alias": self.slowest_alias,
        }

    def summary(self) -> dict[str, Any]:
        """A small dict for logs: counts, times, per alias, slowest, N+1."""
        return {
            "count": self.count,
            "duration_ms": round(self.duration * 1000.0, 3),
            "by_alias": {
                a: {"count": int(c), "duration_ms": round(d * 1000.0, 3)}
                for a, (c, d) in self.by_alias.items()
            },
            "n_plus_one": self.n_plus_one,
            "slow_queries": self.slow_queries,
            "slowest": self.slowest_query(),
        }


class ErrorPathStats(QueryStats):
    """A request's statistics once its view has raised (``got_request_exception``).

    From then on each query's stack is checked for an error reporter
    building its event: those queries are not the application's and are not
    accounted at all (totals, N+1, slow queries).  The check costs a stack
    walk per query, paid only on the error path; the hook sends ordinary
    requests straight to :meth:`QueryStats.add`.
    """

    __slots__ = ()

    def add(self, sql: str, duration: float, alias: str, many: bool = False) -> None:
        if in_error_reporter(2):
            return
        super().add(sql, duration, alias, many)


def on_request_exception(sender: Any, **kwargs: Any) -> None:
    """``got_request_exception`` receiver: the request enters its error path."""
    record = context.current()
    stats = record.db if record is not None else None
    if stats is not None and stats.__class__ is QueryStats:
        stats.__class__ = ErrorPathStats
