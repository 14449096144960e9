"""System checks for the metrics settings (ids ``opskit.E2xx`` / ``W2xx``).

* ``opskit.E201`` ``REGISTRY`` names no ``CollectorRegistry``.
* ``opskit.E202`` ``BUCKETS`` is empty, not increasing, or not positive.
* ``opskit.E203`` ``ALLOWED_IPS`` holds an invalid CIDR range.
* ``opskit.E204`` ``MAX_ROUTES`` is below 1.
* ``opskit.E205`` ``PROMETHEUS_MULTIPROC_DIR`` is not a writable directory.
* ``opskit.W201`` ``/metrics`` is open to every address and has no token.
* ``opskit.W202`` ``BEARER_TOKEN`` is shorter than 16 characters.
* ``opskit.W203`` ``PROMETHEUS_MULTIPROC_DIR`` was set after prometheus-client
  was imported, so each process still keeps its own values.
* ``opskit.W204`` a ``DISK_PATHS`` entry does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.core.checks import Error, Warning

from ..client import Network, parse_networks
from ..conf import get_settings

__all__ = ["MIN_TOKEN_LENGTH", "check_metrics", "register_checks"]

MIN_TOKEN_LENGTH = 16


def check_metrics(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from .collector import multiprocess_dir
    from .definitions import is_multiprocess, resolve_registry, valid_buckets

    s = get_settings().METRICS
    if not s.ENABLED:
        return []
    out: list[Any] = []
    try:
        resolve_registry(s.REGISTRY)
    except Exception as exc:
        out.append(
            Error(
                f"OPSKIT METRICS.REGISTRY {s.REGISTRY!r} is not usable: {exc}.",
                hint="Name a prometheus_client.CollectorRegistry, or a callable returning one.",
                id="opskit.E201",
            )
        )
    if not valid_buckets(s.BUCKETS):
        out.append(
            Error(
                f"OPSKIT METRICS.BUCKETS {s.BUCKETS!r} must be positive, finite and strictly increasing.",
                hint="The defaults (0.005 ... 10 s) are used meanwhile.",
                id="opskit.E202",
            )
        )
    networks: list[Network] = []
    for cidr in s.ALLOWED_IPS:
        try:
            networks.extend(parse_networks([cidr]))
        except ValueError as exc:
            out.append(
                Error(
                    f"OPSKIT METRICS.ALLOWED_IPS has an invalid CIDR range: {exc}.",
                    hint="Use ranges such as '10.0.0.0/8'; until then no address is allowed by range.",
                    id="opskit.E203",
                )
            )
    if s.MAX_ROUTES < 1:
        out.append(
            Error(
                f"OPSKIT METRICS.MAX_ROUTES is {s.MAX_ROUTES}; it must be at least 1.",
                id="opskit.E204",
            )
        )
    path = multiprocess_dir()
    if path and not (os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)):
        out.append(
            Error(
                f"PROMETHEUS_MULTIPROC_DIR {path!r} is not a writable directory.",
                hint="Create it before the server starts (opskit.gunicorn does).",
                id="opskit.E205",
            )
        )
    if any(n.prefixlen == 0 for n in networks) and not s.BEARER_TOKEN:
        out.append(
            Warning(
                "/metrics is readable by every address: METRICS.ALLOWED_IPS contains "
                "a /0 range and there is no METRICS.BEARER_TOKEN.",
                hint="List your Prometheus servers' ranges, or set a BEARER_TOKEN.",
                id="opskit.W201",
            )
        )
    if s.BEARER_TOKEN is not None and len(s.BEARER_TOKEN) < MIN_TOKEN_LENGTH:
        out.append(
            Warning(
                f"OPSKIT METRICS.BEARER_TOKEN is shorter than {MIN_TOKEN_LENGTH} characters.",
                hint="Use a long random value, e.g. secrets.token_urlsafe(32).",
                id="opskit.W202",
            )
        )
    if path and not is_multiprocess():
        out.append(
            Warning(
                "PROMETHEUS_MULTIPROC_DIR is set but prometheus_client was imported before "
                "it: every process keeps its own values and /metrics shows one of them.",
                hint="Set it in the environment of the server process, before Python starts.",
                id="opskit.W203",
            )
        )
    if s.SYSTEM_METRICS:
        for disk in s.DISK_PATHS:
            if not os.path.exists(disk):
                out.append(
                    Warning(
                        f"OPSKIT METRICS.DISK_PATHS entry {disk!r} does not exist.",
                        hint="It is skipped at scrape time.",
                        id="opskit.W204",
                    )
                )
    return out


def register_checks(register: Callable[..., Any]) -> None:
    register(check_metrics, "opskit")
