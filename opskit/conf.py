"""One settings object for opskit, read lazily from ``settings.OPSKIT``.

Every key has a default here, in a frozen dataclass per capability, so the
defaults, the typed access used by the code, the system checks and the
settings reference in the docs all come from one place.  Nothing is read at
import time: :func:`get_settings` reads ``settings.OPSKIT`` on first use,
caches the result, and the cache is cleared on Django's ``setting_changed``
signal so ``override_settings(OPSKIT=...)`` works in tests.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

__all__ = [
    "HealthSettings",
    "Loaded",
    "LoggingSettings",
    "MetricsSettings",
    "QueriesSettings",
    "RateLimitSettings",
    "SentrySettings",
    "Settings",
    "SlowRequestSettings",
    "TasksSettings",
    "did_you_mean",
    "get_section",
    "get_settings",
    "load",
    "loaded",
    "reload_settings",
    "validate",
]

REDACTED = "[redacted]"

#: ``field(metadata={CHECK_ID: ...})``: the system check id reporting a bad
#: value of this key (the capability's own), instead of ``opskit.E002``.
CHECK_ID = "opskit_check_id"
_ID_E304 = {CHECK_ID: "opskit.E304"}


@dataclass(frozen=True)
class LoggingSettings:
    """The request log line (``opskit.logs``)."""

    ENABLED: bool = True
    #: Logger that receives the one line per request.
    LOGGER: str = "opskit.request"
    #: Paths with no request line: a path matches an entry equal to it or
    #: one ending in ``"/"`` below it (``"/health"`` skips ``/health/db``);
    #: ``None`` means the health paths and ``/metrics``.
    SKIP_PATHS: list[str] | None = None
    #: Write ``user.id`` (only when the request already loaded the user).
    LOG_USER_ID: bool = True
    #: Write ``client.address``; turn off for privacy.
    LOG_CLIENT_ADDRESS: bool = True
    #: Write ``url.query``; only ALLOW_PARAMS values are kept.
    LOG_QUERY_STRING: bool = False
    #: Longest ``url.path`` (and ``url.query``) written; longer ones are cut.
    MAX_PATH_LENGTH: int = 512
    #: Write ``user_agent.original``.
    LOG_USER_AGENT: bool = False
    #: Request headers written as ``http.request.header.<name>``; those in
    #: REDACT_HEADERS or named with a REDACT_PARAMS word are written as
    #: ``[redacted]``, and a URL's query values (``Referer``) are redacted.
    LOG_HEADERS: list[str] = field(default_factory=list)
    #: Longest header value (and user agent) written.
    MAX_HEADER_LENGTH: int = 256
    #: Header names (case-insensitive) never written anywhere.
    REDACT_HEADERS: list[str] = field(
        default_factory=lambda: [
            "authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
            "x-api-key",
            "api-key",
            "x-auth-token",
            "x-csrftoken",
            "x-amz-credential",
            "x-amz-security-token",
        ]
    )
    #: Words that make a name secret (a substring, any case): such a query
    #: parameter, form field, cookie or header is always redacted, even when
    #: listed in ALLOW_PARAMS.
    REDACT_PARAMS: list[str] = field(
        default_factory=lambda: [
            "password",
            "passwd",
            "pwd",
            "pass",
            "token",
            "jwt",
            "bearer",
            "secret",
            "api_key",
            "apikey",
            "key",
            "signature",
            "sig",
            "session",
            "auth",
            "code",
            "otp",
            "pin",
            "credential",
        ]
    )
    #: Query parameters (exact names, any case) whose values are written in
    #: ``url.query``, logged URLs (``Referer``) and Sentry events; every other
    #: value is replaced by ``[redacted]``, its name kept.  ``q`` is not here:
    #: search boxes receive e-mail addresses and names.
    ALLOW_PARAMS: list[str] = field(
        default_factory=lambda: [
            "page",
            "per_page",
            "page_size",
            "limit",
            "offset",
            "sort",
            "order",
            "ordering",
            "format",
        ]
    )
    #: Share (0..1) of fast 2xx/3xx lines to keep; errors and slow requests
    #: are always logged.
    SAMPLE_RATE: float = 1.0


@dataclass(frozen=True)
class MetricsSettings:
    """Prometheus metrics (``opskit.metrics``)."""

    ENABLED: bool = True
    #: Dotted path to a ``prometheus_client.CollectorRegistry`` (or a callable
    #: returning one); ``None`` uses prometheus-client's default registry.
    REGISTRY: str | None = None
    #: Upper bounds (seconds) of ``http_server_request_duration_seconds``.
    BUCKETS: list[float] = field(
        default_factory=lambda: [
            0.005,
            0.01,
            0.025,
            0.05,
            0.075,
            0.1,
            0.25,
            0.5,
            0.75,
            1.0,
            2.5,
            5.0,
            7.5,
            10.0,
        ]
    )
    #: Distinct ``http_route`` values before new ones fold into one.
    MAX_ROUTES: int = 500
    #: CIDR ranges allowed to read ``/metrics`` without a token.
    ALLOWED_IPS: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: A bearer token that also opens ``/metrics``.
    BEARER_TOKEN: str | None = None
    #: Filesystem paths whose usage is exported at scrape time.
    DISK_PATHS: list[str] = field(default_factory=lambda: ["/"])
    #: Export ``opskit_process_*`` gauges (psutil, read at scrape time).
    PROCESS_METRICS: bool = True
    #: Export ``opskit_system_*`` gauges (CPU, memory, DISK_PATHS).
    SYSTEM_METRICS: bool = True


@dataclass(frozen=True)
class RateLimitSettings:
    """Rate limiting (``opskit.ratelimit``)."""

    ENABLED: bool = True
    #: ``"redis"`` (a django-redis cache alias, atomic) or ``"cache"``
    #: (Django's cache API; development and tests).
    BACKEND: Literal["redis", "cache"] = field(default="redis", metadata=_ID_E304)
    #: The cache alias whose connection the limiter uses.
    CACHE: str = "default"
    KEY_PREFIX: str = "opskit:rl"
    FAIL_OPEN: bool = True
    #: ``"auto"`` (Sentinel when the alias uses django-redis's Sentinel
    #: support, else a single node), ``"single"``, ``"sentinel"`` or
    #: ``"cluster"`` (a Redis Cluster; the alias's ``LOCATION`` names nodes).
    TOPOLOGY: Literal["auto", "single", "sentinel", "cluster"] = field(
        default="auto", metadata=_ID_E304
    )
    #: Seconds; the limiter's own Redis connect/read timeout (no retries).
    #: 0.5 s: a busy host's scheduling stalls stay well below it, so a flood
    #: cannot time its own limit out (docs/ratelimit.md, "Timeouts").
    SOCKET_TIMEOUT: float = 0.5
    #: Consecutive failures that open the circuit breaker.
    BREAKER_THRESHOLD: int = 5
    #: Seconds the breaker stays open before one trial decision.
    BREAKER_COOLDOWN: float = 5.0
    EXEMPT_STAFF: bool = True
    #: CIDR ranges never limited.
    ALLOW_LIST: list[str] = field(default_factory=list)
    #: ``"ietf"`` (RateLimit-Policy/RateLimit), ``"legacy"`` (adds
    #: X-RateLimit-*), or ``"none"``.
    HEADERS: Literal["ietf", "legacy", "none"] = field(default="ietf", metadata=_ID_E304)
    #: Log and count, but admit everything.
    SHADOW: bool = False
    IPV6_PREFIX: int = 64


@dataclass(frozen=True)
class QueriesSettings:
    """The query monitor (``opskit.queries``)."""

    #: Measure requests (the hook itself is always installed; it costs one
    #: context-variable read outside a monitored scope).
    ENABLED: bool = True
    #: A query at least this slow (ms) logs one WARNING; ``None`` turns it off.
    SLOW_QUERY_MS: float | None = 500.0
    #: Slow-query WARNINGs per request at most (further ones are counted).
    SLOW_QUERY_LOG_LIMIT: int = 10
    #: Repeats of one fingerprint in a request that make an N+1; ``0`` turns
    #: detection off (count and time only, no fingerprint per query).
    N_PLUS_ONE_THRESHOLD: int = 5
    #: Production gate: report an N+1 only when its total time reaches this.
    N_PLUS_ONE_MIN_MS: float = 0.0
    #: Production gate: ... and only when it is at least this share (0..1)
    #: of the request's database time.
    N_PLUS_ONE_MIN_SHARE: float = 0.0
    #: Fingerprints (hex) or call sites (``"path.py"``, ``"path.py:42"``)
    #: that are never reported as N+1.
    ALLOW: list[str] = field(default_factory=list)
    #: Do not report loops whose query is keyset or offset pagination.
    SUPPRESS_PAGINATION: bool = True
    #: Distinct fingerprints kept per request (memory bound).
    MAX_FINGERPRINTS: int = 256
    #: Raw SQL strings whose fingerprint is cached (per process, LRU).
    FINGERPRINT_CACHE_SIZE: int = 4096
    #: Add a ``Server-Timing`` header for clients in SERVER_TIMING_IPS.
    SERVER_TIMING: bool = False
    SERVER_TIMING_IPS: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    #: Path prefixes whose frames are library code for call sites, on top of
    #: the standard library, site-packages and the virtualenv (vendored code,
    #: a monorepo's shared packages).
    CALL_SITE_LIBRARY_PATHS: list[str] = field(default_factory=list)
    #: Path prefixes whose frames are the application's even inside an
    #: installed directory (your package installed non-editable).
    CALL_SITE_APP_PATHS: list[str] = field(default_factory=list)
    #: Report ``select_related`` / ``prefetch_related`` loads never read (opt
    #: in: it instruments Django's related descriptors while on).
    UNUSED_EAGER_LOADS: bool = False


@dataclass(frozen=True)
class SlowRequestSettings:
    """The slow-request warning (``opskit.slow``)."""

    ENABLED: bool = True
    #: Global threshold in milliseconds; ``None`` turns the global check off
    #: (``@slow_request`` views are still checked).
    THRESHOLD_MS: float | None = 1000.0
    #: Logger of the one WARNING per slow request.
    LOGGER: str = "opskit.slow"


@dataclass(frozen=True)
class HealthSettings:
    """Health endpoints (``opskit.health``)."""

    ENABLED: bool = True
    #: Whole-probe deadline in seconds (fits Kubernetes' 1 s default timeout).
    DEADLINE: float = 0.9
    #: Seconds a result is reused (per process, single-flight).
    TTL: float = 1.0
    #: ``"never"``, ``"when-authorized"`` or ``"always"``.
    DETAILS: str = "when-authorized"
    #: A bearer token that shows details.
    TOKEN: str | None = None
    #: Answer ``<readiness path>/<check>`` to anyone; by default one check's
    #: status is a detail (token, proven loopback client or staff).
    PUBLIC_CHECK_PATHS: bool = False
    #: Check specs; ``None`` derives them from DATABASES, CACHES and psutil.
    CHECKS: list[Any] | None = None
    DISK_PATHS: list[str] = field(default_factory=lambda: ["/"])
    DISK_WARN_PERCENT: float = 90.0
    MEMORY_WARN_PERCENT: float = 90.0
    #: Paths (exact, leading slash) answered by the core middleware before
    #: ALLOWED_HOSTS, authentication and redirects.  Each is a readiness
    #: probe unless listed in LIVE_PATHS or STARTUP_PATHS.
    PATHS: list[str] = field(
        default_factory=lambda: ["/livez", "/readyz", "/healthz", "/health", "/startupz"]
    )
    #: Members of PATHS that are liveness probes (no I/O, always ``pass``).
    LIVE_PATHS: list[str] = field(default_factory=lambda: ["/livez"])
    #: Members of PATHS that run the startup checks (pending migrations).
    STARTUP_PATHS: list[str] = field(default_factory=lambda: ["/startupz"])
    #: Seconds the checks' dedicated connections wait to connect or read,
    #: so a hung dependency frees its worker thread (2: libpq's minimum).
    PROBE_TIMEOUT: float = 2.0


@dataclass(frozen=True)
class SentrySettings:
    """Sentry (``opskit.sentry``)."""

    #: ``None`` reads the ``SENTRY_DSN`` environment variable; no DSN, no Sentry.
    DSN: str | None = None
    #: ``None`` lets sentry-sdk read ``SENTRY_ENVIRONMENT`` (else "production").
    ENVIRONMENT: str | None = None
    #: ``None`` lets sentry-sdk read ``SENTRY_RELEASE`` (or detect it from git).
    RELEASE: str | None = None
    #: Share (0..1) of error events sent.
    SAMPLE_RATE: float = 1.0
    #: Share (0..1) of requests traced; ``0`` turns tracing off entirely
    #: (errors only, the cheapest configuration).
    TRACES_SAMPLE_RATE: float = 0.0
    #: Dotted path to your own ``traces_sampler``; probes stay untraced.
    TRACES_SAMPLER: str | None = None
    #: Paths (prefixes) never traced; ``None`` means the health and metrics paths.
    IGNORE_PATHS: list[str] | None = None
    SEND_DEFAULT_PII: bool = False
    #: ``"auto"``: opskit's lean Django integration when tracing is off,
    #: sentry-sdk's DjangoIntegration when it is on; ``"django"`` or
    #: ``"opskit"`` to force one.
    INTEGRATION: Literal["auto", "django", "opskit"] = field(
        default="auto", metadata={CHECK_ID: "opskit.E603"}
    )
    #: DjangoIntegration options; each span type costs time on every request.
    SIGNALS_SPANS: bool = False
    MIDDLEWARE_SPANS: bool = False
    CACHE_SPANS: bool = False
    #: sentry-sdk's ThreadingIntegration forks both scopes on every thread
    #: start and executor submit (several per ASGI request); asgiref already
    #: carries them into ``sync_to_async`` threads.  On for your own threads.
    PROPAGATE_SCOPE_TO_THREADS: bool = False
    REPORT_SLOW_REQUESTS: bool = False
    REPORT_N_PLUS_ONE: bool = False
    #: Seconds between two reports of the same slow route or N+1 pattern
    #: (per process), so one hot pattern cannot burn the event quota.
    REPORT_INTERVAL: float = 300.0
    #: Extra keyword arguments for ``sentry_sdk.init()`` (they win over opskit's).
    INIT_OPTIONS: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TasksSettings:
    """Background tasks (``opskit.tasks``; Celery, with the ``celery`` extra)."""

    #: Carry the request id into tasks and observe every task run (a no-op
    #: without Celery installed).
    ENABLED: bool = True
    #: Logger of the one line per task run.
    LOGGER: str = "opskit.task"
    #: A task run at least this slow (ms) logs one WARNING; ``None`` turns
    #: the global threshold off (``SLOW_TASKS`` entries still apply).
    SLOW_TASK_MS: float | None = 60_000.0
    #: Per-task thresholds in ms (task name to ms), over ``SLOW_TASK_MS``.
    SLOW_TASKS: dict[str, float] = field(default_factory=dict)
    #: Distinct task names kept as metric label values before they fold.
    MAX_TASK_NAMES: int = 200
    #: Port on which a Celery worker's main process serves ``/metrics``
    #: (every prefork child aggregated); ``None``: not served.
    WORKER_METRICS_PORT: int | None = None
    #: Address the worker's metrics server binds; "0.0.0.0" for a scrape
    #: from outside the host (a pod IP), behind a network policy.
    WORKER_METRICS_ADDR: str = "127.0.0.1"


@dataclass(frozen=True)
class Settings:
    """The merged ``OPSKIT`` setting."""

    #: Header carrying the request id in and out.
    REQUEST_ID_HEADER: str = "X-Request-ID"
    #: Accept a well-formed incoming request id (else always generate).
    TRUST_REQUEST_ID: bool = True
    #: CIDR ranges of reverse proxies whose forwarding header is believed.
    TRUSTED_PROXIES: list[str] = field(default_factory=list)
    #: The forwarding header read through trusted proxies.
    FORWARDED_HEADER: str = "X-Forwarded-For"
    LOGGING: LoggingSettings = field(default_factory=LoggingSettings)
    METRICS: MetricsSettings = field(default_factory=MetricsSettings)
    RATELIMIT: RateLimitSettings = field(default_factory=RateLimitSettings)
    QUERIES: QueriesSettings = field(default_factory=QueriesSettings)
    SLOW_REQUESTS: SlowRequestSettings = field(default_factory=SlowRequestSettings)
    HEALTH: HealthSettings = field(default_factory=HealthSettings)
    SENTRY: SentrySettings = field(default_factory=SentrySettings)
    TASKS: TasksSettings = field(default_factory=TasksSettings)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is Any:
        return True
    if origin is Literal:
        return value in typing.get_args(tp)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        args = typing.get_args(tp)
        return not args or all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        if not isinstance(value, Mapping):
            return False
        kt, vt = typing.get_args(tp) or (Any, Any)
        return all(_type_ok(k, kt) and _type_ok(v, vt) for k, v in value.items())
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    """The choice closest to ``word``, ignoring case (``trusted_proxies``,
    ``Databse``), or ``None``: shared by every "did you mean" opskit prints."""
    by_folded = {c.casefold(): c for c in choices}
    folded = word.casefold()
    if folded in by_folded:
        return by_folded[folded]
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


def _build(
    cls: type[Any], raw: Mapping[str, Any], prefix: str, problems: list[tuple[str, str]]
) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    ids = {f.name: f.metadata[CHECK_ID] for f in dataclasses.fields(cls) if CHECK_ID in f.metadata}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in hints:
            close = did_you_mean(str(key), names)
            hint = f" Did you mean {prefix + close!r}?" if close else ""
            problems.append(("opskit.E001", f"Unknown OPSKIT key {prefix + str(key)!r}.{hint}"))
            continue
        tp = hints[key]
        if _is_section(tp):
            if not isinstance(value, Mapping):
                problems.append(
                    ("opskit.E002", f"OPSKIT[{key!r}] must be a dict, not {type(value).__name__}.")
                )
                continue
            values[key] = _build(tp, value, f"{prefix}{key}.", problems)
        elif not _type_ok(value, tp):
            problems.append(
                (
                    ids.get(key, "opskit.E002"),
                    f"OPSKIT {prefix}{key} must be {_type_name(tp)}, "
                    f"not {type(value).__name__} ({value!r:.60}).",
                )
            )
        else:
            values[key] = list(value) if isinstance(value, tuple) else value
    return cls(**values)


def validate(raw: Any) -> tuple[Settings, list[tuple[str, str]]]:
    """Merge ``raw`` over the defaults; return the settings and the problems.

    Bad keys and values are reported (for the system checks) and fall back to
    their defaults, so a typo never crashes a request.
    """
    loaded = load(raw, {})
    return loaded.settings, loaded.problems


class Loaded(typing.NamedTuple):
    """One reading of ``settings.OPSKIT``: the settings, the sections of
    capabilities whose settings are not in :class:`Settings`, the problems."""

    settings: Settings
    sections: dict[str, Any]
    problems: list[tuple[str, str]]


def load(raw: Any, external: Mapping[str, type[Any]]) -> Loaded:
    """:func:`validate`, with ``external`` (section name to dataclass) sections."""
    problems: list[tuple[str, str]] = []
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.append(("opskit.E002", f"OPSKIT must be a dict, not {type(raw).__name__}."))
        raw = {}
    own = {k: v for k, v in raw.items() if k not in external}
    settings = _build(Settings, own, "", problems)
    sections: dict[str, Any] = {}
    for name, cls in external.items():
        value = raw.get(name, {})
        if not isinstance(value, Mapping):
            problems.append(
                ("opskit.E002", f"OPSKIT[{name!r}] must be a dict, not {type(value).__name__}.")
            )
            value = {}
        sections[name] = _build(cls, value, f"{name}.", problems)
    return Loaded(settings, sections, problems)


def _external_sections() -> dict[str, type[Any]]:
    """Settings sections that capabilities declare outside :class:`Settings`."""
    from django.utils.module_loading import import_string

    from .capabilities import installed

    own = {f.name for f in dataclasses.fields(Settings)}
    return {
        cap.section: import_string(cap.settings)
        for cap in installed()
        if cap.section and cap.settings and cap.section not in own
    }


@lru_cache(maxsize=1)
def loaded() -> Loaded:
    """The current reading of ``settings.OPSKIT`` (cached until it changes)."""
    from django.conf import settings as django_settings

    return load(getattr(django_settings, "OPSKIT", None), _external_sections())


def get_settings() -> Settings:
    """The merged, validated settings (cached until ``OPSKIT`` changes)."""
    return loaded().settings


def get_section(name: str) -> Any:
    """A capability's settings section by name (``None`` when there is none)."""
    current = loaded()
    if name in current.sections:
        return current.sections[name]
    return getattr(current.settings, name, None)


_listeners: list[typing.Callable[[], None]] = []


def on_reload(func: typing.Callable[[], None]) -> typing.Callable[[], None]:
    """Register ``func`` to run when the settings are reloaded (caches)."""
    _listeners.append(func)
    return func


def reload_settings(**kwargs: Any) -> None:
    """Clear the cache; connected to ``setting_changed`` in ``apps.ready``."""
    setting = kwargs.get("setting")
    if setting is not None and setting not in ("OPSKIT", "DATABASES", "CACHES", "MIDDLEWARE"):
        return
    loaded.cache_clear()
    for func in list(_listeners):
        func()
