"""Measure the limiter on a busy host: floods beside CPU burners, per timeout.

Not a test (it takes minutes): the measurement behind the defaults
``SOCKET_TIMEOUT = 0.5`` and ``BREAKER_THRESHOLD = 5`` (docs/ratelimit.md).
Each run: 8 processes x 100 decisions on one fresh key, quota 100 (100/h, so
nothing refills), with ``burners`` busy-looping processes per core alongside.
A run is exact when exactly 100 are admitted and none failed::

    .venv/bin/python tools/services.py run -- \\
        .venv/bin/python -m tests.ratelimit.busy_flood --timeouts 0.05,0.5 --runs 10
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any


def _flood(prefix: str, timeout: float, threshold: int, barrier: Any, out: Any) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.conf import settings

    from opskit.conf import reload_settings

    settings.OPSKIT = {
        "RATELIMIT": {
            "CACHE": "redis",
            "KEY_PREFIX": prefix,
            "SOCKET_TIMEOUT": timeout,
            "BREAKER_THRESHOLD": threshold,
        }
    }
    reload_settings()
    from opskit.ratelimit import Limiter

    limiter = Limiter("100/h", scope=prefix)
    limiter.decide("warm-up")  # imports, connection, script: not the flood's
    barrier.wait()
    outcomes = []
    slowest = 0.0
    for _ in range(100):
        t0 = time.perf_counter()
        d = limiter.decide("one-key")
        slowest = max(slowest, time.perf_counter() - t0)
        outcomes.append(d.error or d.outcome)
    out.put((outcomes, slowest))


def run_once(timeout: float, threshold: int) -> tuple[Counter[str], float]:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(8)
    out = ctx.Queue()
    prefix = f"opskit-busy-{uuid.uuid4().hex[:8]}"
    procs = [
        ctx.Process(target=_flood, args=(prefix, timeout, threshold, barrier, out))
        for _ in range(8)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(30)
    counts: Counter[str] = Counter()
    for outcomes, _ in results:
        counts.update(outcomes)
    return counts, max(s for _, s in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeouts", default="0.05,0.5")
    parser.add_argument("--threshold", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--burners", type=int, default=4, help="busy loops per core")
    args = parser.parse_args()
    burners = [
        subprocess.Popen([sys.executable, "-c", "while 1: pass"])
        for _ in range(args.burners * (os.cpu_count() or 1))
    ]
    try:
        time.sleep(1)
        for timeout in (float(t) for t in args.timeouts.split(",")):
            exact = 0
            worst = 0.0
            failed = []
            for _ in range(args.runs):
                counts, slowest = run_once(timeout, args.threshold)
                worst = max(worst, slowest)
                # Failed decisions fail open: admitted without being counted.
                failed.append(sum(v for k, v in counts.items() if k not in ("allowed", "limited")))
                exact += counts["allowed"] == 100 and counts["limited"] == 700
            print(
                f"timeout={timeout}s threshold={args.threshold} load={os.getloadavg()[0]:.1f}: "
                f"exact {exact}/{args.runs}, failed (uncounted) decisions per run "
                f"{sorted(failed)}, slowest decision {worst * 1000:.0f} ms",
                flush=True,
            )
    finally:
        for b in burners:
            b.kill()
            b.wait()


if __name__ == "__main__":
    main()
