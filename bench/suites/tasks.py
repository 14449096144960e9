"""Background tasks: CPU added per task (enqueue + run) over bare Celery.

opskit's tasks capability (correlation headers, the JSON task line, metrics,
query statistics) beside django-structlog's Celery integration, the anchor a
team adds for correlated task logs, in the same run: interleaved rounds of
fresh processes (``bench/tasks_harness.py``), each enqueuing to kombu's
in-memory broker and running the task in-process, so no broker or worker
noise enters the figure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..stats import Figure, Record
from ..util import added, ratio_verdict

VARIANTS = ["bare", "opskit", "structlog"]
ANCHOR = "django-structlog (Celery integration)"
ROOT = Path(__file__).resolve().parents[2]


def _once(variant: str, n: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "bench.tasks_harness", variant, str(n)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_us"])


def run(quick: bool = False) -> list[Record]:
    rounds, n = (2, 1000) if quick else (7, 3000)
    samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            samples[variant].append(_once(variant, n))
    bare = samples["bare"]
    ours = Figure.of(added(samples["opskit"], bare))
    theirs = Figure.of(added(samples["structlog"], bare))
    return [
        Record(
            suite="tasks",
            metric="CPU per task (enqueue + run) added over bare Celery",
            unit="µs",
            better="lower",
            opskit=ours,
            anchors={ANCHOR: theirs},
            baseline={"bare Celery + Django (absolute)": Figure.of(bare)},
            target="≤ 1/3 of the anchor's added CPU",
            verdict=ratio_verdict(ours.median, theirs.median, 1 / 3),
            notes=(
                "one apply_async to kombu's in-memory broker and one apply() of a task "
                "running one query, per iteration; opskit: correlation headers, task line, "
                "metrics, query statistics (Sentry off); logs to a discarding stream"
            ),
        )
    ]
