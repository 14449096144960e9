"""The metric objects, created lazily and at most once per registry.

Nothing here registers anything at import time.  :func:`get_metrics` builds
one :class:`Metrics` bundle on the configured registry the first time it is
needed (the first request, signal or scrape) and keeps it per registry, so a
settings reload (``override_settings`` in tests) reuses the same objects, and
a change of buckets unregisters the old ones before registering the new:
"Duplicated timeseries" cannot happen through opskit.

Label values are bounded here, once, on a cache miss: the hot path is one
dictionary lookup keyed by the raw label tuple that returns a labelled child.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import weakref
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.utils.module_loading import import_string
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import values as prometheus_values
from prometheus_client.registry import REGISTRY, Collector

from ..conf import MetricsSettings, get_settings, on_reload
from ..context import UNMATCHED_ROUTE, RequestRecord
from .collector import SystemCollector

__all__ = [
    "DB_QUERY_COUNT_BUCKETS",
    "HEALTH_STATUS_VALUES",
    "METRIC_NAMES",
    "OTHER",
    "OVERFLOW_ROUTE",
    "Metrics",
    "get_metrics",
    "is_multiprocess",
    "resolve_registry",
    "valid_buckets",
]

logger = logging.getLogger("opskit.metrics")

#: ``http_route`` once ``MAX_ROUTES`` distinct routes have been seen.
OVERFLOW_ROUTE = "<overflow>"
#: The fallback value of every other bounded label (OpenTelemetry's word).
OTHER = "_OTHER"
#: Upper bounds of ``opskit_db_queries_per_request``.
DB_QUERY_COUNT_BUCKETS: tuple[float, ...] = (0, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000)
#: ``opskit_health_check_status`` per reported status (unknown statuses: 0).
HEALTH_STATUS_VALUES: dict[str, float] = {"pass": 1.0, "warn": 0.5, "fail": 0.0}
#: Upper bounds (seconds) of the task duration and queue-wait histograms:
#: tasks run from milliseconds to hours.
TASK_BUCKETS: tuple[float, ...] = (
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)
#: Final states of a task run kept as label values.
TASK_STATES = frozenset({"succeeded", "failed", "retried", "rejected", "ignored"})
#: Outcomes of ``ratelimit_decided`` kept as label values.
RATELIMIT_OUTCOMES = frozenset({"allowed", "limited", "error", "shadow"})

#: Caps on the other label values (they come from code, but stay bounded).
MAX_ERROR_TYPES = 50
MAX_ALIASES = 32
MAX_SCOPES = 100
MAX_CHECKS = 100
#: Raw label tuples remembered by the hot-path cache before it stops growing.
MAX_CACHED_CHILDREN = 10_000

#: Every metric name opskit can emit, as written in the exposition.
METRIC_NAMES: tuple[str, ...] = (
    "http_server_request_duration_seconds",
    "http_server_active_requests",
    "opskit_db_queries_per_request",
    "opskit_db_query_duration_seconds",
    "opskit_db_queries_total",
    "opskit_db_slow_queries_total",
    "opskit_db_n_plus_one_total",
    "opskit_db_unused_eager_loads_total",
    "opskit_ratelimit_decisions_total",
    "opskit_health_check_status",
    "opskit_health_check_duration_seconds",
    "opskit_slow_requests_total",
    "opskit_task_duration_seconds",
    "opskit_task_queue_wait_seconds",
    "opskit_tasks_active",
    "opskit_task_failures_total",
    "opskit_task_retries_total",
    "opskit_process_cpu_seconds_total",
    "opskit_process_resident_memory_bytes",
    "opskit_process_open_fds",
    "opskit_process_threads",
    "opskit_system_cpu_utilization_ratio",
    "opskit_system_memory_total_bytes",
    "opskit_system_memory_available_bytes",
    "opskit_system_disk_total_bytes",
    "opskit_system_disk_free_bytes",
)


def is_multiprocess() -> bool:
    """Whether prometheus-client writes values to ``PROMETHEUS_MULTIPROC_DIR``.

    prometheus-client decides this once, when it is first imported; asking
    its value class (not the environment) gives the answer that counts.
    """
    return bool(getattr(prometheus_values.ValueClass, "_multiprocess", False))


def resolve_registry(path: str | None) -> CollectorRegistry:
    """The registry named by the ``REGISTRY`` setting (raises on a bad one)."""
    if path is None:
        return REGISTRY
    obj = import_string(path)
    if not isinstance(obj, CollectorRegistry) and callable(obj):
        obj = obj()
    if not isinstance(obj, CollectorRegistry):
        raise TypeError(f"{path} is not a prometheus_client CollectorRegistry")
    return obj


class _Bounded:
    """Keeps the first ``limit`` distinct values of a label, folds the rest."""

    def __init__(self, limit: int, fallback: str, what: str) -> None:
        self.limit = limit
        self.fallback = fallback
        self.what = what
        self.seen: set[str] = set()
        self.warned = False
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        with self._lock:
            if value in self.seen:
                return value
            if len(self.seen) < self.limit:
                self.seen.add(value)
                return value
            if not self.warned:
                self.warned = True
                logger.warning(
                    "opskit metrics: more than %d distinct %s values; new ones are exported as %r.",
                    self.limit,
                    self.what,
                    self.fallback,
                )
        return self.fallback


class Metrics:
    """Every opskit metric on one registry, with bounded, cached children."""

    def __init__(self, registry: CollectorRegistry, buckets: tuple[float, ...]) -> None:
        self.registry = registry
        self.buckets = buckets
        self.request_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_route", "http_response_status_code", "error_type"],
            buckets=buckets,
            registry=None,
        )
        self.active_requests = Gauge(
            "http_server_active_requests",
            "Number of HTTP server requests in flight.",
            registry=None,
            multiprocess_mode="livesum",
        )
        #: One item per request in flight.  In one process the gauge reads
        #: its length when scraped (``Gauge.set_function``): ``list.append``
        #: and ``list.pop`` are atomic, and cost a fraction of ``inc`` and
        #: ``dec``, which take a lock each.  Across processes the value must
        #: be in the shared files, so the extension steps the gauge itself.
        self.in_flight: list[None] = []
        if not is_multiprocess():
            self.active_requests.set_function(self.in_flight.__len__)
        self.db_queries_per_request = Histogram(
            "opskit_db_queries_per_request",
            "Database queries run by one request (all aliases).",
            buckets=DB_QUERY_COUNT_BUCKETS,
            registry=None,
        )
        self.db_query_duration = Histogram(
            "opskit_db_query_duration_seconds",
            "Time one request spent in database queries, per alias.",
            ["alias"],
            buckets=buckets,
            registry=None,
        )
        self.db_queries = Counter(
            "opskit_db_queries_total",
            "Database queries run by requests, per alias.",
            ["alias"],
            registry=None,
        )
        self.db_slow_queries = Counter(
            "opskit_db_slow_queries_total",
            "Queries over QUERIES.SLOW_QUERY_MS, per alias.",
            ["alias"],
            registry=None,
        )
        self.db_n_plus_one = Counter(
            "opskit_db_n_plus_one_total",
            "N+1 query patterns detected, per alias.",
            ["alias"],
            registry=None,
        )
        self.db_unused_eager_loads = Counter(
            "opskit_db_unused_eager_loads_total",
            "select_related / prefetch_related loads never read (QUERIES.UNUSED_EAGER_LOADS).",
            ["kind"],
            registry=None,
        )
        self.ratelimit_decisions = Counter(
            "opskit_ratelimit_decisions_total",
            "Rate-limit decisions by limit scope and outcome.",
            ["scope", "outcome"],
            registry=None,
        )
        self.health_status = Gauge(
            "opskit_health_check_status",
            "Last result of a health check: 1 pass, 0.5 warn, 0 fail.",
            ["check"],
            registry=None,
            multiprocess_mode="livemostrecent",
        )
        self.health_duration = Gauge(
            "opskit_health_check_duration_seconds",
            "Duration of the last run of a health check.",
            ["check"],
            registry=None,
            multiprocess_mode="livemostrecent",
        )
        self.slow_requests = Counter(
            "opskit_slow_requests_total",
            "Requests over their slow-request threshold, per route.",
            ["http_route"],
            registry=None,
        )
        self.task_duration = Histogram(
            "opskit_task_duration_seconds",
            "Duration of background task runs, by task and final state.",
            ["task", "state"],
            buckets=TASK_BUCKETS,
            registry=None,
        )
        self.task_queue_wait = Histogram(
            "opskit_task_queue_wait_seconds",
            "Time a task waited in its queue, from enqueue to the start of its run.",
            ["task"],
            buckets=TASK_BUCKETS,
            registry=None,
        )
        self.tasks_active = Gauge(
            "opskit_tasks_active",
            "Background task runs in progress.",
            ["task"],
            registry=None,
            multiprocess_mode="livesum",
        )
        self.task_failures = Counter(
            "opskit_task_failures_total",
            "Background task runs that failed (no retry left or none asked).",
            ["task"],
            registry=None,
        )
        self.task_retries = Counter(
            "opskit_task_retries_total",
            "Background task runs that ended asking for a retry.",
            ["task"],
            registry=None,
        )
        self.system: Collector | None = None
        if not is_multiprocess():
            # In multi-process mode a custom collector in a worker's registry
            # is never scraped; the /metrics view adds one per scrape instead.
            self.system = SystemCollector()
        self.routes = _Bounded(500, OVERFLOW_ROUTE, "http_route")
        self.error_types = _Bounded(MAX_ERROR_TYPES, OTHER, "error_type")
        self.aliases = _Bounded(MAX_ALIASES, OTHER, "alias")
        self.scopes = _Bounded(MAX_SCOPES, OTHER, "ratelimit scope")
        self.checks = _Bounded(MAX_CHECKS, OTHER, "health check")
        self.tasks = _Bounded(get_settings().TASKS.MAX_TASK_NAMES, OTHER, "task")
        self._request_children: dict[tuple[Any, ...], Any] = {}
        self._alias_children: dict[str, tuple[Any, Any]] = {}
        self._task_children: dict[Any, _TaskChildren] = {}
        self._lock = threading.Lock()
        self.collectors: list[Collector] = [
            self.request_duration,
            self.active_requests,
            self.db_queries_per_request,
            self.db_query_duration,
            self.db_queries,
            self.db_slow_queries,
            self.db_n_plus_one,
            self.db_unused_eager_loads,
            self.ratelimit_decisions,
            self.health_status,
            self.health_duration,
            self.slow_requests,
            self.task_duration,
            self.task_queue_wait,
            self.tasks_active,
            self.task_failures,
            self.task_retries,
        ]
        if self.system is not None:
            self.collectors.append(self.system)

    # -- registration ------------------------------------------------------

    def register(self) -> None:
        for collector in self.collectors:
            _register(self.registry, collector)

    def unregister(self) -> None:
        for collector in self.collectors:
            try:
                self.registry.unregister(collector)
            except KeyError:
                pass

    # -- the hot path --------------------------------------------------------

    def observe_request(self, record: RequestRecord) -> None:
        """One observation of ``record.duration`` (the shared clock)."""
        key = (record.method, record.route, record.status, record.error_type)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_child(key)
        child.observe(record.duration)
        db = record.db
        if db is not None:
            self.db_queries_per_request.observe(db.count)
            for alias, stats in db.by_alias.items():  # alias: [count, seconds]
                pair = self._alias_children.get(alias)
                if pair is None:
                    pair = self._alias_child(alias)
                pair[0].observe(stats[1])
                pair[1].inc(stats[0])

    def _request_child(self, key: tuple[Any, ...]) -> Any:
        method, route, status, error_type = key
        if not route:
            route = UNMATCHED_ROUTE
        labels = (
            method or OTHER,
            self.route_label(route),
            str(status) if status is not None else "",
            self._error_label(error_type, status),
        )
        child = self.request_duration.labels(*labels)
        with self._lock:
            if len(self._request_children) < MAX_CACHED_CHILDREN:
                self._request_children[key] = child
        return child

    def task_started(self, name: Any, queue_wait: float | None) -> None:
        """A task run began: one gauge step, and its time in the queue."""
        c = self._task(name)
        c.active.inc()
        if queue_wait is not None:
            c.queue_wait.observe(queue_wait)

    def task_finished(self, name: Any, state: str, duration: float, counted: bool) -> None:
        """A task run ended (``counted``: its start stepped the gauge)."""
        c = self._task(name)
        duration_child = c.duration.get(state)
        if duration_child is None:
            duration_child = c.duration[state] = self.task_duration.labels(c.label, state)
        duration_child.observe(duration)
        if counted:
            c.active.dec()
        if state == "failed":
            c.failures.inc()
        elif state == "retried":
            c.retries.inc()

    def _task(self, name: Any) -> _TaskChildren:
        c = self._task_children.get(name)
        if c is None:
            label = self.task_label(name)
            c = _TaskChildren(
                label,
                self.tasks_active.labels(label),
                self.task_queue_wait.labels(label),
                self.task_failures.labels(label),
                self.task_retries.labels(label),
            )
            with self._lock:
                if len(self._task_children) < MAX_CACHED_CHILDREN:
                    self._task_children[name] = c
        return c

    def route_label(self, route: str) -> str:
        if route == UNMATCHED_ROUTE:
            return route
        return self.routes(route)

    def _error_label(self, error_type: str | None, status: int | None) -> str:
        if error_type:
            return self.error_types(error_type)
        if status is not None and status >= 500:
            # OpenTelemetry: a 5xx without an exception has error.type = code.
            return str(status)
        return ""

    def _alias_child(self, alias: str) -> tuple[Any, Any]:
        label = self.aliases(str(alias))
        pair = (self.db_query_duration.labels(label), self.db_queries.labels(label))
        with self._lock:
            if len(self._alias_children) < MAX_CACHED_CHILDREN:
                self._alias_children[alias] = pair
        return pair

    # -- what the signals feed ----------------------------------------------

    def alias_label(self, alias: Any) -> str:
        return self.aliases(str(alias) if alias else "default")

    def ratelimit_labels(self, scope: Any, outcome: Any) -> tuple[str, str]:
        out = outcome if outcome in RATELIMIT_OUTCOMES else OTHER
        return self.scopes(str(scope) if scope else OTHER), out

    def task_label(self, task: Any) -> str:
        return self.tasks(str(task) if task else OTHER)

    def check_label(self, check: Any) -> str:
        return self.checks(str(check) if check else OTHER)


class _TaskChildren:
    """One task's labelled metric children, looked up once per task name."""

    __slots__ = ("active", "duration", "failures", "label", "queue_wait", "retries")

    def __init__(self, label: str, active: Any, queue_wait: Any, failures: Any, retries: Any):
        self.label = label
        self.active = active
        self.queue_wait = queue_wait
        self.failures = failures
        self.retries = retries
        #: Duration children by state (a bounded set: ``TASK_STATES``).
        self.duration: dict[str, Any] = {}


def _same_kind(a: object, b: object) -> bool:
    ta, tb = type(a), type(b)
    return (ta.__module__, ta.__qualname__, getattr(a, "_name", None)) == (
        tb.__module__,
        tb.__qualname__,
        getattr(b, "_name", None),
    )


def _register(registry: CollectorRegistry, collector: Collector) -> None:
    try:
        registry.register(collector)
    except ValueError:
        # Same names already there: an earlier bundle of ours that escaped
        # the bookkeeping (a module reload).  Replace ours; never a stranger's.
        mapping: dict[str, Any] = getattr(registry, "_names_to_collectors", {})
        get_names = getattr(registry, "_get_names", None)  # prometheus-client internals
        if get_names is None:
            raise
        names = get_names(collector)
        clashing = {id(mapping[n]): mapping[n] for n in names if n in mapping}
        if not clashing or not all(_same_kind(c, collector) for c in clashing.values()):
            raise
        for existing in clashing.values():
            registry.unregister(existing)
        registry.register(collector)


_bundles: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()
_bundles_lock = threading.Lock()


def valid_buckets(buckets: Iterable[float]) -> bool:
    """Non-empty, positive, finite and strictly increasing."""
    b = list(buckets)
    return (
        bool(b)
        and all(math.isfinite(x) and x > 0 for x in b)
        and all(x < y for x, y in itertools.pairwise(b))
    )


def _buckets(raw: Iterable[float]) -> tuple[float, ...]:
    if not valid_buckets(raw):  # reported by system check opskit.E202
        raw = MetricsSettings().BUCKETS
    return tuple(float(b) for b in raw)


@lru_cache(maxsize=1)
def get_metrics() -> Metrics | None:
    """The metrics bundle for the current settings, or ``None`` if disabled.

    Raises when ``REGISTRY`` names no registry (system check opskit.E201).
    """
    settings = get_settings().METRICS
    if not settings.ENABLED:
        return None
    registry = resolve_registry(settings.REGISTRY)
    buckets = _buckets(settings.BUCKETS)
    with _bundles_lock:
        bundle = _bundles.get(registry)
        if bundle is None or bundle.buckets != buckets:
            if bundle is not None:
                bundle.unregister()
            bundle = Metrics(registry, buckets)
            bundle.register()
            _bundles[registry] = bundle
        bundle.routes.limit = max(settings.MAX_ROUTES, 1)
    return bundle


on_reload(get_metrics.cache_clear)
