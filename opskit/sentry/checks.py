"""System checks for the Sentry integration (ids ``opskit.E6xx`` / ``W6xx``).

* ``opskit.E601`` a DSN is configured but sentry-sdk is not installed.
* ``opskit.E602`` the DSN is malformed.
* ``opskit.E603`` a sample rate outside 0..1 or (from the typed settings,
  ``opskit.conf``) an unknown ``INTEGRATION``; ``INIT_OPTIONS`` not a dict is
  ``opskit.E002``.
* ``opskit.E604`` ``TRACES_SAMPLER`` cannot be imported or is not callable.
* ``opskit.W601`` sentry-sdk was initialised outside opskit without opskit's
  scrubbing ``before_send``.
* ``opskit.W602`` a report switch is on while its source is disabled.
* ``opskit.W603`` ``SENTRY.DSN`` is set but sentry-sdk was already
  initialised by the application with another DSN (opskit's is ignored).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from django.core.checks import Error, Warning
from django.utils.module_loading import import_string

from ..conf import get_settings
from .integration import before_send, configured_dsn
from .state import state

__all__ = ["check_sentry", "register_checks"]


def check_sentry(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    settings = get_settings()
    s = settings.SENTRY
    errors: list[Any] = []
    dsn = configured_dsn(s)
    # Without a DSN, sentry-sdk is only imported here if something else
    # imported it: importing it has a per-request cost (see integration.setup).
    if not _installed():
        if dsn:
            errors.append(_e601())
        return errors
    if dsn:
        try:
            import sentry_sdk  # noqa: F401 - the package itself, not only a cached submodule
            from sentry_sdk.utils import BadDsn, Dsn
        except ImportError:  # found but broken: it cannot send either
            return [_e601()]
        try:
            Dsn(dsn)
        except (BadDsn, ValueError) as exc:
            errors.append(
                Error(
                    f"The Sentry DSN is malformed ({exc}).",
                    hint="Copy it from the project's Client Keys page: "
                    "https://<key>@<host>/<project id>.",
                    id="opskit.E602",
                )
            )
    for key in ("SAMPLE_RATE", "TRACES_SAMPLE_RATE"):
        value = getattr(s, key)
        if not 0.0 <= value <= 1.0:
            errors.append(
                Error(
                    f"OPSKIT SENTRY.{key} is {value!r}; it must be between 0 and 1.",
                    id="opskit.E603",
                )
            )
    if s.TRACES_SAMPLER is not None:
        try:
            sampler = import_string(s.TRACES_SAMPLER)
        except ImportError as exc:
            errors.append(
                Error(f"OPSKIT SENTRY.TRACES_SAMPLER cannot be imported: {exc}.", id="opskit.E604")
            )
        else:
            if not callable(sampler):
                errors.append(
                    Error(
                        f"OPSKIT SENTRY.TRACES_SAMPLER {s.TRACES_SAMPLER!r} is not callable.",
                        id="opskit.E604",
                    )
                )
    if s.REPORT_SLOW_REQUESTS and not settings.SLOW_REQUESTS.ENABLED:
        errors.append(_w602("REPORT_SLOW_REQUESTS", "SLOW_REQUESTS"))
    if s.REPORT_N_PLUS_ONE and not settings.QUERIES.ENABLED:
        errors.append(_w602("REPORT_N_PLUS_ONE", "QUERIES"))
    sdk = sys.modules.get("sentry_sdk")  # not imported: not initialised
    client = sdk.get_client() if sdk is not None else None
    if client is not None and client.is_active() and not state.owned:
        if client.options.get("before_send") is not before_send:
            errors.append(
                Warning(
                    "sentry-sdk was initialised outside opskit, so opskit did not "
                    "add its scrubbing: query parameters and headers that the logs "
                    "redact can reach Sentry.",
                    hint="Pass before_send=opskit.sentry.before_send to sentry_sdk.init(), "
                    "or let opskit initialise Sentry from OPSKIT['SENTRY'].",
                    id="opskit.W601",
                )
            )
        if s.DSN and client.options.get("dsn") != s.DSN:
            errors.append(
                Warning(
                    "OPSKIT SENTRY.DSN is set, but sentry-sdk was already initialised "
                    "with another DSN; opskit keeps the existing client.",
                    hint="Remove one of the two configurations.",
                    id="opskit.W603",
                )
            )
    return errors


def _installed() -> bool:
    """Whether sentry-sdk can be imported, without importing it."""
    try:
        return find_spec("sentry_sdk") is not None  # None too when its import is blocked
    except ValueError:  # a module without a spec, put in sys.modules by hand
        return True


def _e601() -> Any:
    return Error(
        "A Sentry DSN is configured but sentry-sdk is not installed: no error reaches Sentry.",
        hint="pip install 'django-opskit[sentry]'",
        id="opskit.E601",
    )


def _w602(key: str, section: str) -> Any:
    return Warning(
        f"OPSKIT SENTRY.{key} is on but OPSKIT {section} is disabled: nothing will be reported.",
        hint=f"Enable OPSKIT['{section}'] or turn {key} off.",
        id="opskit.W602",
    )


def register_checks(register: Callable[..., Any]) -> None:
    register(check_sentry, "opskit")
