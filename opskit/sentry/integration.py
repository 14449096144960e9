"""Initialise sentry-sdk from ``OPSKIT["SENTRY"]`` and attach opskit's data.

Design choices (see ``docs/sentry.md``):

* sentry-sdk is initialised from the capability's ``ready`` hook :func:`setup`,
  never at import, and only when a DSN is configured.
* If sentry-sdk was already initialised (``sentry_sdk.init()`` in your
  settings), opskit does not initialise it again: it adds its event
  processor (request id, route) and its signal receivers, and leaves your
  client's options alone.  Use :func:`before_send` in your own ``init()`` to
  get opskit's scrubbing too (system check ``opskit.W601`` reminds you).
* Tags are added by a global event processor that reads the request record
  (:func:`opskit.context.current`) when the event is captured.  That runs
  in the context of whoever captures the event, so the tags land on the
  event itself, whichever scope the SDK merges, sync or async, and cost
  nothing on requests without an event.
"""

from __future__ import annotations

import contextvars
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.utils.module_loading import import_string

from .. import context
from ..conf import SentrySettings, get_settings, on_reload
from ..ids import parse_traceparent
from .scrub import scrub_event
from .state import state

__all__ = [
    "METRICS_PATH",
    "before_send",
    "before_send_transaction",
    "configured_dsn",
    "custom_repr",
    "event_processor",
    "is_active",
    "probe_paths",
    "setup",
    "shutdown",
    "traces_sampler",
]

#: The metrics endpoint's path (``opskit.urls``); never traced.
METRICS_PATH = "/metrics"

EventHint = dict[str, Any]
Event = dict[str, Any]


def configured_dsn(settings: SentrySettings | None = None) -> str | None:
    """The DSN from settings, else the ``SENTRY_DSN`` environment variable."""
    s = settings if settings is not None else get_settings().SENTRY
    return s.DSN or os.environ.get("SENTRY_DSN") or None


def is_active() -> bool:
    """Whether opskit's Sentry integration is on in this process."""
    return state.active


@lru_cache(maxsize=1)
def probe_paths() -> tuple[str, ...]:
    """Path prefixes never traced: ``IGNORE_PATHS``, else health and metrics."""
    s = get_settings()
    if s.SENTRY.IGNORE_PATHS is not None:
        return tuple(s.SENTRY.IGNORE_PATHS)
    return (*s.HEALTH.PATHS, METRICS_PATH)


on_reload(probe_paths.cache_clear)


def _is_probe(path: str) -> bool:
    for prefix in probe_paths():
        if path == prefix or (
            path.startswith(prefix) and path[len(prefix) : len(prefix) + 1] in "/?"
        ):
            return True
    return False


def _request_of(ctx: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """(path, traceparent, has sentry-trace) from a WSGI environ or ASGI scope."""
    environ = ctx.get("wsgi_environ")
    if isinstance(environ, dict):
        return (
            environ.get("PATH_INFO"),
            environ.get("HTTP_TRACEPARENT"),
            "HTTP_SENTRY_TRACE" in environ,
        )
    scope = ctx.get("asgi_scope")
    if isinstance(scope, dict):
        traceparent = None
        has_sentry = False
        for name, value in scope.get("headers") or ():
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"sentry-trace":
                has_sentry = True
        return scope.get("path"), traceparent, has_sentry
    return None, None, False


def traces_sampler(sampling_context: dict[str, Any]) -> float:
    """opskit's default sampler: probes 0, else the parent's decision, else the rate.

    A parent decision comes from Sentry's ``sentry-trace`` header, or from a
    W3C ``traceparent`` whose sampled flag is set (an upstream that records
    this trace keeps it whole; an unsampled ``traceparent`` leaves the
    decision to ``TRACES_SAMPLE_RATE``, because many proxies send one without
    tracing anything).
    """
    path, traceparent, has_sentry = _request_of(sampling_context)
    if path is not None and _is_probe(path):
        return 0.0
    parent = sampling_context.get("parent_sampled")
    if parent is not None:
        return 1.0 if parent else 0.0
    if traceparent and not has_sentry and _w3c_sampled(traceparent):
        return 1.0
    return float(get_settings().SENTRY.TRACES_SAMPLE_RATE)


def _w3c_sampled(traceparent: str) -> bool:
    if parse_traceparent(traceparent) is None:
        return False
    try:
        return bool(int(traceparent.strip()[53:55], 16) & 1)
    except ValueError:
        return False


def _wrap_sampler(user: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    def sampler(sampling_context: dict[str, Any]) -> Any:
        path = _request_of(sampling_context)[0]
        if path is not None and _is_probe(path):
            return 0.0
        return user(sampling_context)

    sampler.opskit_wrapped = user  # type: ignore[attr-defined]
    return sampler


#: The query monitor's pause while sentry-sdk builds an event (see
#: :func:`event_processor`), ended by :func:`before_send`: the token and the
#: stand-in record it made current.
_building: contextvars.ContextVar[tuple[contextvars.Token[Any], Any] | None] = (
    contextvars.ContextVar("opskit_sentry_building", default=None)
)

_queryset_class: type | None = None


def custom_repr(value: Any) -> str | None:
    """sentry-sdk's ``custom_repr``: a QuerySet described without running its query.

    sentry-sdk ``repr()``s every frame variable of an error; ``repr()`` of an
    unevaluated QuerySet runs it (again, once per frame that holds it, and
    perhaps the very query that failed).  An evaluated QuerySet shows its
    cached rows as usual; anything else falls back to sentry-sdk's repr.
    Pass it as ``custom_repr`` when you call ``sentry_sdk.init()`` yourself.
    """
    global _queryset_class
    cls = _queryset_class
    if cls is None:
        from django.db.models.query import QuerySet

        cls = _queryset_class = QuerySet
    if not isinstance(value, cls):
        return None
    # No public "is evaluated" API: the result cache is what __repr__ reads.
    if getattr(value, "_result_cache", None) is not None:
        return None
    model = getattr(value, "model", None)
    name = f"{model._meta.app_label}.{model.__name__}" if model is not None else "?"
    return f"<{type(value).__name__} of {name}, not evaluated>"


def _chain_repr(user: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def chained(value: Any) -> str | None:
        return custom_repr(value) or user(value)

    return chained


def _start_building(event: Event) -> None:
    """Hide the queries sentry-sdk runs while it finishes this event.

    Global event processors run first, before the SDK's and the scopes'
    processors (the DjangoIntegration reads ``request.user``), the
    serialisation and ``before_send``, which ends the pause.  Only when
    ``before_send`` is opskit's (it is unless you initialised the SDK
    without it), so the pause ends with the event; one that a later
    processor of yours drops leaves it on until the next event or the end
    of the request, never longer.
    """
    if event.get("type") == "transaction":
        return
    import sentry_sdk

    if sentry_sdk.get_client().options.get("before_send") is not before_send:
        return
    _end_building()  # a pause left by a dropped event
    token = context.hide_queries()
    if token is not None:
        _building.set((token, context.current()))


def _end_building() -> None:
    pending = _building.get()
    if pending is None:
        return
    _building.set(None)
    token, shadow = pending
    # Only while the stand-in is still current: after its request ended
    # (a dropped event on a reused thread) the token belongs to the past.
    if context.current() is shadow:
        context.deactivate(token)


def event_processor(event: Event, hint: EventHint) -> Event:
    """Add ``request_id`` and ``http.route`` (and ``user.id`` with PII on).

    Registered once as a global event processor; it reads the record of the
    request that is capturing the event, so it needs no per-request scope
    work and is right for sync views, async views, ``sync_to_async`` hops
    and exceptions Django reports through ``got_request_exception``.  From
    here to ``before_send`` the query monitor ignores the SDK's queries.
    """
    if not state.active:
        return event
    record = context.current()
    if record is None:
        return event
    _start_building(event)
    tags = event.get("tags")
    if not isinstance(tags, dict):
        tags = event["tags"] = {}
    tags["request_id"] = record.request_id
    if record.route is not None:
        tags["http.route"] = record.route
    if state.lean:
        from .lean import add_request_data

        add_request_data(event, record, state.send_pii)
    if state.send_pii and record.user_id is not None:
        user = event.get("user")
        if not isinstance(user, dict):
            user = event["user"] = {}
        user.setdefault("id", record.user_id)
    return event


def _scrub(event: Event) -> None:
    logs = get_settings().LOGGING
    scrub_event(event, logs.REDACT_HEADERS, logs.REDACT_PARAMS, logs.ALLOW_PARAMS)


def before_send(event: Event, hint: EventHint) -> Event | None:
    """Scrub an error or message event; pass it to ``before_send`` of INIT_OPTIONS.

    Use it in your own ``sentry_sdk.init(before_send=...)`` when you
    initialise sentry-sdk yourself.
    """
    _end_building()
    _scrub(event)
    user = _user_hooks.get("before_send")
    return user(event, hint) if user is not None else event


def before_send_transaction(event: Event, hint: EventHint) -> Event | None:
    """Scrub a transaction event the same way."""
    _scrub(event)
    user = _user_hooks.get("before_send_transaction")
    return user(event, hint) if user is not None else event


_user_hooks: dict[str, Callable[[Event, EventHint], Event | None]] = {}


def _resolve(value: Any) -> Any:
    return import_string(value) if isinstance(value, str) else value


def _init_options(s: SentrySettings, dsn: str) -> dict[str, Any]:
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.threading import ThreadingIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    logs = get_settings().LOGGING
    # Sentry's scrubber matches whole keys (headers as "x_api_key" in the
    # WSGI environ, "X-Api-Key" in request.headers, frame variables): add
    # opskit's names in every spelling to its default list.
    extra = set()
    for name in (*logs.REDACT_HEADERS, *logs.REDACT_PARAMS):
        lowered = name.lower()
        extra |= {lowered, lowered.replace("-", "_"), lowered.replace("_", "-")}
    denylist = [*DEFAULT_DENYLIST, *sorted(extra - {d.lower() for d in DEFAULT_DENYLIST})]
    tracing = s.TRACES_SAMPLER is not None or s.TRACES_SAMPLE_RATE > 0
    tracing = tracing or "traces_sampler" in s.INIT_OPTIONS
    tracing = tracing or s.INIT_OPTIONS.get("traces_sample_rate") is not None
    options: dict[str, Any] = {
        "dsn": dsn,
        "environment": s.ENVIRONMENT,
        "release": s.RELEASE,
        "sample_rate": s.SAMPLE_RATE,
        "event_scrubber": EventScrubber(denylist=denylist, send_default_pii=s.SEND_DEFAULT_PII),
    }
    threading = ThreadingIntegration(propagate_scope=s.PROPAGATE_SCOPE_TO_THREADS)
    if _lean_wanted(s, tracing):
        # sentry-sdk auto-enables its DjangoIntegration when Django is
        # importable: keep it off, opskit's lean integration takes over.
        options["disabled_integrations"] = [DjangoIntegration]
        options["integrations"] = [threading]
    else:
        django_options: dict[str, Any] = {
            "transaction_style": "url",
            "middleware_spans": s.MIDDLEWARE_SPANS,
            "signals_spans": s.SIGNALS_SPANS,
            "cache_spans": s.CACHE_SPANS,
        }
        if not tracing:
            # Errors only: no method is "captured", so the SDK's WSGI/ASGI
            # middleware skips continue_trace() and the transaction object
            # it would build and throw away on every request; the extension
            # gives each request its own trace id instead (a lazy one).
            django_options["http_methods_to_capture"] = ()
        options["integrations"] = [DjangoIntegration(**django_options), threading]
    if s.SEND_DEFAULT_PII:
        options["send_default_pii"] = True
    if s.TRACES_SAMPLER is not None:
        options["traces_sampler"] = _wrap_sampler(_resolve(s.TRACES_SAMPLER))
    elif s.TRACES_SAMPLE_RATE > 0:
        options["traces_sampler"] = traces_sampler
    # With neither, sentry-sdk's tracing is off: no transaction is sampled
    # and spans are no-ops (errors only, the cheapest setting).
    user_options = dict(s.INIT_OPTIONS)
    _user_hooks.clear()
    for hook in ("before_send", "before_send_transaction"):
        value = user_options.pop(hook, None)
        if value is not None:
            _user_hooks[hook] = _resolve(value)
    if "traces_sampler" in user_options:
        user_options["traces_sampler"] = _wrap_sampler(_resolve(user_options["traces_sampler"]))
    if _accepts_custom_repr():
        user_repr = user_options.pop("custom_repr", None)
        options["custom_repr"] = (
            custom_repr if user_repr is None else _chain_repr(_resolve(user_repr))
        )
    options.update(user_options)
    options["before_send"] = before_send
    options["before_send_transaction"] = before_send_transaction
    if options.get("environment") is None:
        options.pop("environment")
    if options.get("release") is None:
        options.pop("release")
    return options


def _accepts_custom_repr() -> bool:
    """sentry-sdk >= 2.14 takes ``custom_repr``; older 2.x would reject it."""
    from sentry_sdk.consts import ClientConstructor

    return "custom_repr" in inspect.signature(ClientConstructor.__init__).parameters


def _lean_wanted(s: SentrySettings, tracing: bool) -> bool:
    if s.INTEGRATION == "opskit":
        return True
    return s.INTEGRATION == "auto" and not tracing


def _tracing_enabled(options: dict[str, Any]) -> bool:
    from sentry_sdk.tracing_utils import has_tracing_enabled

    return bool(has_tracing_enabled(options))


def _traced_methods(client: Any) -> bool:
    from sentry_sdk.integrations.django import DjangoIntegration

    integration = client.get_integration(DjangoIntegration)
    return integration is None or bool(getattr(integration, "http_methods_to_capture", True))


_processor_registered = False


def setup() -> None:
    """The ready hook: initialise Sentry if configured, connect the receivers.

    Idempotent.  A no-op without sentry-sdk installed (``opskit.E601``
    reports a DSN that cannot be used).
    """
    global _processor_registered
    s = get_settings().SENTRY
    dsn = configured_dsn(s)
    if not dsn and "sentry_sdk" not in sys.modules:
        # Nobody has initialised sentry-sdk (it is not even imported), and
        # opskit will not: leave it unimported.  Importing it sets its scope
        # context variables in the main thread's context, which every
        # context copies, and asgiref walks them on each ``sync_to_async``
        # hop: about 36 calls per ASGI request, for a project without Sentry.
        return
    try:
        import sentry_sdk
        from sentry_sdk.scope import add_global_event_processor
    except ImportError:
        return
    client = sentry_sdk.get_client()
    if client.is_active() and not state.owned:
        # The user initialised sentry-sdk: keep their client and options.
        state.tracing = _tracing_enabled(client.options)
        state.send_pii = bool(client.should_send_default_pii())
    elif dsn:
        if state.owned:  # setup() again (settings reloaded): replace our client
            client.close(timeout=2.0)
        options = _init_options(s, dsn)
        with warnings.catch_warnings():
            # sentry-sdk >= 2.5x deprecates send_default_pii for its new
            # data_collection option, which older 2.x releases lack; the
            # old option keeps working (it is mapped onto data_collection).
            warnings.filterwarnings("ignore", ".*send_default_pii", DeprecationWarning)
            sentry_sdk.init(**options)
        state.owned = True
        client = sentry_sdk.get_client()
        state.tracing = _tracing_enabled(client.options)
        state.send_pii = bool(client.should_send_default_pii())
    else:
        return
    state.traced_methods = _traced_methods(sentry_sdk.get_client())
    from sentry_sdk.integrations.logging import ignore_logger

    # The access line of a 500 is not a second error: the exception itself
    # is captured, with the same request id.
    ignore_logger(get_settings().LOGGING.LOGGER)
    from . import lean

    state.lean = state.owned and _lean_wanted(s, state.tracing)
    if state.lean:
        # disabled_integrations only stops an integration that was never
        # set up in this process; after an earlier init (tests, a re-init)
        # the SDK would enable it again, so drop it from this client.
        from sentry_sdk.integrations.django import DjangoIntegration

        sentry_sdk.get_client().integrations.pop(DjangoIntegration.identifier, None)
        state.traced_methods = False  # no SDK middleware starts a trace
        lean.install()
    else:
        lean.uninstall()
    if not _processor_registered:
        add_global_event_processor(event_processor)  # type: ignore[arg-type]
        _processor_registered = True
    state.active = True
    from ..extensions import get_extensions
    from .receivers import connect

    connect()
    get_extensions.cache_clear()  # the extension reads state.active once


def shutdown(timeout: float = 2.0) -> None:
    """Flush and close the client opskit created, and switch opskit's parts off.

    For tests and for processes that fork after ``ready()``.
    """
    from ..extensions import get_extensions
    from .receivers import disconnect

    disconnect()
    state.active = False
    state.tracing = False
    get_extensions.cache_clear()
    if not state.owned:
        return
    state.owned = False
    try:
        import sentry_sdk
    except ImportError:  # pragma: no cover
        return
    client = sentry_sdk.get_client()
    client.close(timeout=timeout)
    sentry_sdk.get_global_scope().set_client(None)
