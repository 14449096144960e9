"""Code run in separate OS processes (spawned: each has its own connection)."""

from __future__ import annotations

import asyncio
import os
from typing import Any


def _setup(prefix: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings

    from opskit.conf import reload_settings

    # Exactness is the point here, not timeouts: a loaded 2-core machine can
    # stall a process longer than the 50 ms default.
    settings.OPSKIT = {"RATELIMIT": {"CACHE": "redis", "KEY_PREFIX": prefix, "SOCKET_TIMEOUT": 5.0}}
    reload_settings()


def hammer(
    prefix: str,
    scope: str,
    rate: str,
    strict: bool,
    attempts: int,
    use_async: bool,
    barrier: Any,
    out: Any,
) -> None:
    _setup(prefix)
    from opskit.ratelimit import Limiter

    limiter = Limiter(rate, scope=scope, strict=strict)
    barrier.wait()
    if use_async:

        async def run() -> list[str]:
            decisions = await asyncio.gather(*(limiter.adecide("one-key") for _ in range(attempts)))
            return [d.error or d.outcome for d in decisions]

        outcomes = asyncio.run(run())
    else:
        outcomes = [limiter.decide("one-key") for _ in range(attempts)]
        outcomes = [d.error or d.outcome for d in outcomes]
    out.put(outcomes)
