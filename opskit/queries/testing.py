"""Test assertions on queries: ``assert_max_queries`` and ``assert_no_n_plus_one``.

Both count every alias by default, ignore BEGIN/COMMIT/SAVEPOINT statements
(how many a test's ``atomic()`` blocks issue is not the code's business) and
see the queries of requests made through the test client inside the block.
On failure they list each fingerprint with its count and call site.
"""

from __future__ import annotations

from .eager import assert_no_unused_eager_loads
from .scope import Scope
from .stats import Entry, QueryStats

__all__ = ["assert_max_queries", "assert_no_n_plus_one", "assert_no_unused_eager_loads"]


def _line(entry: Entry) -> str:
    from .callsite import format_site

    return (
        f"  {entry.count}x [{entry.alias}] {entry.fp.key} at {format_site(entry.site)}: "
        f"{entry.fp.sample}"
    )


def _require_app(helper: str) -> None:
    """Without the app no query hook is installed: the block would count 0."""
    from ..apps import require_app

    require_app(f"{helper} is used", "it would count no query and always pass")


class assert_max_queries(Scope):
    """Fail if the block runs more than ``n`` queries (on ``using``, or all aliases).

    A context manager (``with``/``async with``) or a decorator.
    """

    def __init__(self, n: int, using: str | None = None) -> None:
        super().__init__("assert_max_queries", report=False, capture_first=True)
        self.n = n
        self.using = using
        self.count = 0

    def _clone(self, name: str | None) -> Scope:
        return assert_max_queries(self.n, self.using)

    def __enter__(self) -> QueryStats:
        _require_app("assert_max_queries")
        return super().__enter__()

    def __exit__(self, *exc: object) -> None:
        stats = self.entered_stats()
        super().__exit__(*exc)
        if exc[0] is not None:
            return
        entries = stats.entries(self.using)
        self.count = sum(e.count for e in entries)
        if self.count > self.n:
            where = f" on {self.using!r}" if self.using else ""
            lines = [f"Expected at most {self.n} queries{where}, {self.count} were run:"]
            lines += [_line(e) for e in entries]
            if stats.dropped:
                lines.append(f"  (+{stats.dropped} queries of further shapes not listed)")
            raise AssertionError("\n".join(lines))


class assert_no_n_plus_one(Scope):
    """Fail if one query shape repeats ``threshold`` times or more in the block.

    ``threshold`` defaults to ``QUERIES.N_PLUS_ONE_THRESHOLD``; the ALLOW
    list and pagination suppression apply, the production time gate does not.
    """

    def __init__(self, threshold: int | None = None) -> None:
        super().__init__("assert_no_n_plus_one", report=False, threshold=threshold)
        self.threshold = threshold

    def _clone(self, name: str | None) -> Scope:
        return assert_no_n_plus_one(self.threshold)

    def __enter__(self) -> QueryStats:
        _require_app("assert_no_n_plus_one")
        stats = super().__enter__()
        if stats._threshold <= 0:
            raise ValueError("assert_no_n_plus_one needs a threshold of at least 2")
        return stats

    def __exit__(self, *exc: object) -> None:
        stats = self.entered_stats()
        super().__exit__(*exc)
        if exc[0] is not None:
            return
        found = stats.patterns(gate=False)
        if found:
            lines = [
                f"{len(found)} N+1 pattern(s) (same query >= {stats._threshold} times):",
            ]
            lines += [
                f"  {f.count}x [{f.alias}] {f.fingerprint} at {f.call_site}: {f.sql}" for f in found
            ]
            raise AssertionError("\n".join(lines))
