"""Unused eager loads: a ``select_related`` or ``prefetch_related`` nobody read.

Opt in with ``QUERIES.UNUSED_EAGER_LOADS`` (or for a block of a test with
:class:`assert_no_unused_eager_loads`).  While on, one wrapper is installed
on ``QuerySet._fetch_all`` (Django has no public hook after a QuerySet's
rows and prefetches are loaded; nplusone patches the same place and the
related descriptors).  After an evaluation inside a tracked request or
scope, the wrapper walks the QuerySet's ``select_related`` tree and
``prefetch_related`` lookups over the loaded instances and swaps the
instances' relation caches (``_state.fields_cache`` and
``_prefetched_objects_cache``, the dicts Django's descriptors and related
managers read) for a dict that notes which keys are read.  Nothing else
changes: Django reads and writes those dicts as before, and copies or
pickles of an instance get plain dicts.

At the end of the request or scope each load (kind, model, lookup, call
site of the evaluation) that no instance's relation was read from is
reported once: a WARNING ``unused_eager_load`` on ``opskit.queries``, the
``unused_eager_load`` signal (metrics count it) and, for the test helper,
an ``AssertionError``.

Off (the default), ``QuerySet._fetch_all`` is Django's own and requests
pay one attribute check each; the query hook is not involved either way.
Not tracked: ``Prefetch(..., to_attr=...)`` (a plain attribute) and
``QuerySet.iterator()`` (it has no result cache).
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .. import context, signals
from .callsite import CallSite, call_site, format_site

__all__ = [
    "EagerLoads",
    "UnusedEagerLoad",
    "assert_no_unused_eager_loads",
    "begin",
    "end",
    "set_enabled",
]

logger = logging.getLogger("opskit.queries")

F = TypeVar("F", bound=Callable[..., Any])

SELECT = "select_related"
PREFETCH = "prefetch_related"
#: select_related() with no argument follows non-null foreign keys this deep.
_MAX_DEPTH = 5


class Load:
    """One eager load of one QuerySet evaluation site."""

    __slots__ = ("kind", "lookup", "model", "site", "used")

    def __init__(self, kind: str, model: str, lookup: str, site: CallSite | None) -> None:
        self.kind = kind
        self.model = model
        self.lookup = lookup
        self.site = site
        self.used = False


class UnusedEagerLoad:
    """A reported load: ``kind``, ``model`` (``app.Model``), ``lookup``, ``call_site``."""

    __slots__ = ("call_site", "kind", "lookup", "model")

    def __init__(self, load: Load) -> None:
        self.kind = load.kind
        self.model = load.model
        self.lookup = load.lookup
        self.call_site = format_site(load.site)

    def __repr__(self) -> str:
        return f"<UnusedEagerLoad {self.kind}({self.lookup!r}) on {self.model} at {self.call_site}>"


class _Watched(dict[str, Any]):
    """A relation cache that notes the reads of the keys an eager load filled."""

    __slots__ = ("loads",)
    loads: dict[str, list[Load]]

    def __getitem__(self, key: str) -> Any:
        loads = self.loads.get(key)
        if loads is not None:
            for load in loads:
                load.used = True
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self[key]
        return default

    def __reduce__(self) -> Any:  # pickles and copies are plain dicts
        return (dict, (dict(self),))


def _watch(holder: Any, attr: str, key: str, load: Load) -> None:
    cache = getattr(holder, attr)
    if cache.__class__ is not _Watched:
        watched = _Watched(cache)
        watched.loads = {}
        setattr(holder, attr, watched)
        cache = watched
    loads = cache.loads.setdefault(key, [])
    if load not in loads:
        loads.append(load)


def _cache_name(field: Any) -> str:
    name = getattr(field, "cache_name", None)  # Django >= 5.1
    if isinstance(name, str):
        return name
    return str(field.get_cache_name())


def _label(model: Any) -> str:
    return f"{model._meta.app_label}.{model.__name__}"


class EagerLoads:
    """The eager loads of one request or scope (and of the scopes around it)."""

    __slots__ = ("loads", "outer")

    def __init__(self, outer: EagerLoads | None = None) -> None:
        self.outer = outer
        self.loads: dict[tuple[str, str, str, CallSite | None], Load] = {}

    def _load(self, kind: str, model: Any, lookup: str, site: CallSite | None) -> list[Load]:
        """This load in this tracker and every enclosing one."""
        out = []
        tracker: EagerLoads | None = self
        key = (kind, _label(model), lookup, site)
        while tracker is not None:
            load = tracker.loads.get(key)
            if load is None:
                load = tracker.loads[key] = Load(kind, key[1], lookup, site)
            out.append(load)
            tracker = tracker.outer
        return out

    def track(self, qs: Any) -> None:
        """Watch what an evaluated QuerySet loaded eagerly."""
        from django.db.models import Model

        instances = [o for o in qs._result_cache if isinstance(o, Model)]
        if not instances:
            return
        site = call_site()
        related = qs.query.select_related
        if related is True:
            self._select_all(instances, qs.model, "", site, 1)
        elif related:
            self._select(instances, qs.model, related, "", site)
        for lookup in qs._prefetch_related_lookups:
            path = getattr(lookup, "prefetch_to", lookup)
            self._prefetch(instances, qs.model, str(path).split("__"), site)

    def _select(
        self, objs: list[Any], model: Any, tree: dict[str, Any], prefix: str, site: CallSite | None
    ) -> None:
        for name, sub in tree.items():
            try:
                field = model._meta.get_field(name)
            except Exception:
                continue
            self._select_field(objs, model, field, prefix + name, site, sub, 0)

    def _select_all(
        self, objs: list[Any], model: Any, prefix: str, site: CallSite | None, depth: int
    ) -> None:
        if depth > _MAX_DEPTH:
            return
        for field in model._meta.concrete_fields:
            if field.is_relation and not field.null and (field.many_to_one or field.one_to_one):
                self._select_field(objs, model, field, prefix + field.name, site, None, depth)

    def _select_field(
        self,
        objs: list[Any],
        model: Any,
        field: Any,
        lookup: str,
        site: CallSite | None,
        sub: dict[str, Any] | None,
        depth: int,
    ) -> None:
        key = _cache_name(field)
        loads: list[Load] | None = None
        nested = []
        for obj in objs:
            state = obj._state
            if key not in state.fields_cache:
                continue
            if loads is None:
                loads = self._load(SELECT, model, lookup, site)
            for load in loads:
                _watch(state, "fields_cache", key, load)
            value = dict.__getitem__(state.fields_cache, key)
            if value is not None:
                nested.append(value)
        if not nested:
            return
        if sub:
            self._select(nested, field.related_model, sub, lookup + "__", site)
        elif sub is None:
            self._select_all(nested, field.related_model, lookup + "__", site, depth + 1)

    def _prefetch(
        self, objs: Iterable[Any], model: Any, parts: list[str], site: CallSite | None
    ) -> None:
        from django.db.models.fields.related_descriptors import ManyToManyDescriptor

        for i, part in enumerate(parts):
            lookup = "__".join(parts[: i + 1])
            loads: list[Load] | None = None
            nested: list[Any] = []
            for obj in objs:
                desc = getattr(type(obj), part, None)
                key = part
                if isinstance(desc, ManyToManyDescriptor) and desc.reverse:
                    key = desc.field.related_query_name()
                many = obj.__dict__.get("_prefetched_objects_cache")
                if many is not None and key in many:
                    holder, attr = obj, "_prefetched_objects_cache"
                    value = dict.__getitem__(many, key)
                    nested.extend(value)
                elif key in obj._state.fields_cache:
                    holder, attr = obj._state, "fields_cache"
                    value = dict.__getitem__(obj._state.fields_cache, key)
                    if value is not None:
                        nested.append(value)
                else:  # to_attr, or not loaded for this instance
                    continue
                if loads is None:
                    loads = self._load(PREFETCH, model, lookup, site)
                for load in loads:
                    _watch(holder, attr, key, load)
            if loads is None:
                return
            objs = nested

    def unused(self) -> list[UnusedEagerLoad]:
        return [UnusedEagerLoad(load) for load in self.loads.values() if not load.used]


_tracker: contextvars.ContextVar[EagerLoads | None] = contextvars.ContextVar(
    "opskit_eager_loads", default=None
)

# -- the wrapper, installed only while something wants it -----------------------

_original: Callable[[Any], None] | None = None
_by_settings = False
_helpers = 0


def _fetch_all(self: Any) -> None:
    done = self._result_cache is not None
    assert _original is not None
    _original(self)
    if done:
        return
    tracker = _tracker.get()
    if tracker is None or not (self.query.select_related or self._prefetch_related_lookups):
        return
    try:
        tracker.track(self)
    except Exception as exc:  # never break the application's query
        from ..extensions import report_internal_error

        report_internal_error("eager-load tracking", exc)


def _sync() -> None:
    global _original
    from django.db.models.query import QuerySet

    want = _by_settings or _helpers > 0
    if want and _original is None:
        _original = QuerySet._fetch_all
        setattr(QuerySet, "_fetch_all", _fetch_all)  # noqa: B010 - a documented patch
    elif not want and _original is not None:
        setattr(QuerySet, "_fetch_all", _original)  # noqa: B010
        _original = None


def set_enabled(on: bool) -> None:
    """Install or remove the wrapper for ``QUERIES.UNUSED_EAGER_LOADS``."""
    global _by_settings
    _by_settings = on
    _sync()


def begin() -> tuple[EagerLoads, contextvars.Token[EagerLoads | None]]:
    """Start tracking a request or scope (inside any enclosing tracker)."""
    tracker = EagerLoads(_tracker.get())
    return tracker, _tracker.set(tracker)


def end(state: tuple[EagerLoads, contextvars.Token[EagerLoads | None]]) -> list[UnusedEagerLoad]:
    """Stop tracking; the loads nobody read."""
    tracker, token = state
    try:
        _tracker.reset(token)
    except ValueError:  # finished in another context (a streaming response)
        _tracker.set(tracker.outer)
    return tracker.unused()


def report(found: list[UnusedEagerLoad], record: context.RequestRecord | None) -> None:
    """Log and signal each unused load (never raises)."""
    if not found:
        return
    route = (record.route or record.view or record.path or None) if record is not None else None
    with context.queries_hidden():
        for item in found:
            try:
                logger.warning(
                    "unused %s(%r) on %s at %s",
                    item.kind,
                    item.lookup,
                    item.model,
                    item.call_site,
                    extra={
                        "event": "unused_eager_load",
                        "kind": item.kind,
                        "model": item.model,
                        "lookup": item.lookup,
                        "call_site": item.call_site,
                        "request_id": record.request_id if record is not None else None,
                        "route": route,
                    },
                )
            except Exception:
                pass
            signals.send(
                signals.unused_eager_load,
                EagerLoads,
                kind=item.kind,
                model=item.model,
                lookup=item.lookup,
                call_site=item.call_site,
                record=record,
            )


class assert_no_unused_eager_loads:
    """Fail if a ``select_related``/``prefetch_related`` in the block is never read.

    Works whatever ``QUERIES.UNUSED_EAGER_LOADS`` says (the wrapper is
    installed for the block); sees requests made through the test client
    inside it.  A context manager (``with``/``async with``) or a decorator.
    """

    def __init__(self) -> None:
        self.found: list[UnusedEagerLoad] = []
        self._states: list[tuple[EagerLoads, contextvars.Token[EagerLoads | None]]] = []

    def __enter__(self) -> assert_no_unused_eager_loads:
        global _helpers
        _helpers += 1
        _sync()
        self._states.append(begin())
        return self

    def __exit__(self, *exc: object) -> None:
        global _helpers
        found = end(self._states.pop())
        _helpers -= 1
        _sync()
        self.found = found
        if exc[0] is not None or not found:
            return
        lines = [f"{len(found)} eager load(s) never read:"]
        lines += [
            f"  {f.kind}({f.lookup!r}) on {f.model} at {f.call_site}"
            for f in sorted(found, key=lambda f: (f.kind, f.lookup))
        ]
        raise AssertionError("\n".join(lines))

    async def __aenter__(self) -> assert_no_unused_eager_loads:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)

    def __call__(self, func: F) -> F:
        if iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kw: Any) -> Any:
                async with assert_no_unused_eager_loads():
                    return await func(*args, **kw)

            markcoroutinefunction(async_wrapper)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            with assert_no_unused_eager_loads():
                return func(*args, **kw)

        return wrapper  # type: ignore[return-value]
