"""``make test-unit``: the test settings with no server behind them.

Both database aliases are SQLite (in memory) and Redis points at a port
nothing listens on, so a test that needs a server fails at once instead of
waiting; those carry the ``redis`` / ``postgres`` markers and are left for
``make test``.
"""

from __future__ import annotations

from .settings import *  # noqa: F403
from .settings import CACHES

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "other": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}
CACHES = {**CACHES, "redis": {**CACHES["redis"], "LOCATION": "redis://127.0.0.1:9/15"}}
