from __future__ import annotations

from django.apps import AppConfig
from django.core import checks
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

#: Modules whose ``register_checks()`` adds a capability's system checks.
CHECK_MODULES: tuple[str, ...] = (
    "opskit.checks",
    # -- logging (issue 3) --
    "opskit.logs.checks",
    # -- metrics (issue 4) --
    "opskit.metrics.checks",
    # -- ratelimit (issue 5) --
    "opskit.ratelimit.checks",
    # -- queries (issue 6) --
    "opskit.queries.checks",
    "opskit.slow",
    # -- health (issue 7) --
    "opskit.health.checks",
    # -- sentry (issue 8) --
    "opskit.sentry.checks",
)

#: Callables run once in ``ready()`` (signal receivers a capability needs).
READY_HOOKS: tuple[str, ...] = (
    # -- logging (issue 3) --
    # -- metrics (issue 4) --
    "opskit.metrics.receivers.connect",
    # -- queries (issue 6) --
    "opskit.queries.hook.install",
    # -- health (issue 7) --
    # -- sentry (issue 8) --
    "opskit.sentry.setup",
    # -- background tasks: Celery's signals, then each capability's part of a
    # task run (task_finished runs them in this order: statistics closed,
    # metrics, Sentry, then the task line) --
    "opskit.tasks.connect",
    "opskit.queries.tasks.connect",
    "opskit.metrics.tasks.connect",
    "opskit.sentry.tasks.connect",
    "opskit.logs.tasks.connect",
)


class OpsKitConfig(AppConfig):
    name = "opskit"
    verbose_name = "opskit"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from .conf import reload_settings

        setting_changed.connect(reload_settings, dispatch_uid="opskit.reload_settings")
        for module in CHECK_MODULES:
            import_string(f"{module}.register_checks")(checks.register)
        for hook in READY_HOOKS:
            import_string(hook)()
