"""What Sentry's :func:`~opskit.sentry.setup` decided, in a module of its own
so the integration and the lean Django integration both read it without
importing each other."""

from __future__ import annotations

__all__ = ["State", "state"]


class State:
    """What :func:`setup` decided; read on the request path, so plain attributes."""

    __slots__ = ("active", "lean", "owned", "send_pii", "traced_methods", "tracing")

    def __init__(self) -> None:
        self.active = False  # opskit's processor and receivers are on
        self.owned = False  # opskit called sentry_sdk.init()
        self.lean = False  # opskit's own Django integration (lean.py) is on
        self.tracing = False  # the client may create sampled transactions
        self.send_pii = False
        # False when the DjangoIntegration starts no trace per request
        # (http_methods_to_capture=()): the extension does it.
        self.traced_methods = True


state = State()
