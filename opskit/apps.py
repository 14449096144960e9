from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

#: Receives the error-level system-check problems found at startup.
startup_logger = logging.getLogger("opskit.checks")

CheckFunction = Callable[..., list[checks.CheckMessage]]


def _with_hint(check: CheckFunction) -> CheckFunction:
    """Every serious problem carries a hint: the reference when its check has none."""

    @functools.wraps(check)
    def run(*args: Any, **kwargs: Any) -> list[checks.CheckMessage]:
        messages = check(*args, **kwargs)
        for message in messages:
            if message.is_serious() and not message.hint and message.id:
                message.hint = (
                    f"See {message.id} in opskit's system checks reference (docs/checks.md)."
                )
        return messages

    return run


def _run_by_manage_py() -> bool:
    """``manage.py`` / ``django-admin``: ``check``, ``migrate`` and ``runserver``
    print the problems themselves (and refuse to go on with an error)."""
    argv0 = os.path.basename(sys.argv[0]) if sys.argv else ""
    return argv0 in ("manage.py", "django-admin") or sys.argv[0].endswith(
        os.path.join("django", "__main__.py")
    )


def log_startup_problems() -> list[checks.CheckMessage]:
    """Log opskit's error-level check problems, with their ids, once per process.

    gunicorn, uvicorn and Celery never run the system checks, so a bad
    setting (say ``TRUSTED_PROXIES = ["10.0.0.0/33"]``, which trusts no
    proxy) would otherwise go unnoticed.  The checks read settings only: the
    ones that need the URLconf skip it until every app is ready.
    """
    try:
        messages = checks.run_checks(tags=["opskit"])
    except Exception as exc:  # a broken check must not stop the server
        startup_logger.warning("opskit: the system checks could not run at startup: %r", exc)
        return []
    serious = [m for m in messages if m.is_serious() and not m.is_silenced()]
    for message in serious:
        hint = f" HINT: {message.hint}" if message.hint else ""
        startup_logger.error(
            "%s: %s%s", message.id, message.msg, hint, extra={"check_id": message.id}
        )
    return serious


def require_app(what: str, lost: str) -> None:
    """Raise ``ImproperlyConfigured`` naming the fix when ``"opskit"`` is not
    installed: ``what`` is in use, but without the app ``lost``."""
    from django.apps import apps

    if not apps.is_installed("opskit"):
        raise ImproperlyConfigured(
            f"{what} but 'opskit' is not in INSTALLED_APPS: {lost}. "
            'Fix: INSTALLED_APPS += ["opskit"] in your settings.'
        )


class OpsKitConfig(AppConfig):
    name = "opskit"
    verbose_name = "opskit"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from .conf import reload_settings

        setting_changed.connect(reload_settings, dispatch_uid="opskit.reload_settings")
        from . import capabilities
        from .checks import register_checks

        def register(check: CheckFunction, *tags: str, **kw: Any) -> None:
            checks.register(_with_hint(check), *tags, **kw)

        register_checks(register)
        capabilities.plug_in(capabilities.installed(), register)
        if not _run_by_manage_py():
            log_startup_problems()
