"""The query monitor: per-request query statistics on every alias, N+1 and slow queries.

Public API: :func:`monitor` (commands, tasks, scripts), the test helpers
:func:`assert_max_queries` and :func:`assert_no_n_plus_one`,
:func:`fingerprint`, and :class:`QueryStats` (what ``record.db`` holds).
"""

from __future__ import annotations

from .fingerprints import Fingerprint, fingerprint, normalize
from .scope import monitor
from .stats import NPlusOne, QueryStats
from .testing import assert_max_queries, assert_no_n_plus_one

__all__ = [
    "Fingerprint",
    "NPlusOne",
    "QueryStats",
    "assert_max_queries",
    "assert_no_n_plus_one",
    "fingerprint",
    "monitor",
    "normalize",
]
