"""The query monitor: per-request query statistics on every alias, N+1 and slow queries.

Public API: :func:`monitor` (commands, tasks, scripts), the test helpers
:func:`assert_max_queries`, :func:`assert_no_n_plus_one` and
:func:`assert_no_unused_eager_loads`,
:func:`fingerprint`, and :class:`QueryStats` (what ``record.db`` holds).
"""

from __future__ import annotations

from ..capability import Capability
from .eager import UnusedEagerLoad, assert_no_unused_eager_loads
from .fingerprints import Fingerprint, fingerprint, normalize
from .scope import monitor
from .stats import NPlusOne, QueryStats
from .testing import assert_max_queries, assert_no_n_plus_one

__all__ = [
    "Fingerprint",
    "NPlusOne",
    "QueryStats",
    "UnusedEagerLoad",
    "assert_max_queries",
    "assert_no_n_plus_one",
    "assert_no_unused_eager_loads",
    "fingerprint",
    "monitor",
    "normalize",
]


#: How the core plugs this capability in (``opskit.capabilities``).
CAPABILITY = Capability(
    name="queries",
    section="QUERIES",
    checks=("opskit.queries.checks.register_checks",),
    ready=("opskit.queries.hook.install", "opskit.queries.tasks.connect"),
    extension="opskit.queries.extension.QueriesExtension",
    extension_order=20,
)
