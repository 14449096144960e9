"""Per-request CPU of opskit's metrics vs django-prometheus, in the same run.

* opskit-metrics: the core middleware with only the metrics capability on.
* opskit-metrics-mp: the same with ``PROMETHEUS_MULTIPROC_DIR`` (mmap files).
* anchor-metrics: django-prometheus's before/after middleware.

opskit's figure is measured two ways: over bare Django (what a user pays,
including the core middleware every capability shares) and over opskit-core
(the metrics extension alone).  Target: at most a third of django-prometheus's
added CPU; multi-process mode at most +10 µs over single-process.
"""

from __future__ import annotations

from ..stats import Figure, Record
from ..util import added, interleaved, ratio_verdict

VARIANTS = ["bare", "opskit-core", "opskit-metrics", "opskit-metrics-mp", "anchor-metrics"]


def run(quick: bool = False) -> list[Record]:
    # ASGI requests cost ~20x WSGI ones in-process: fewer keep the suite short.
    rounds, reps = (1, 3) if quick else (3, 3)
    sizes = {"wsgi": 800, "asgi": 300} if quick else {"wsgi": 3000, "asgi": 600}
    records = []
    for handler, path in (("wsgi", "/sync/1/"), ("asgi", "/async/1/")):
        s = interleaved(
            VARIANTS, rounds, handler=handler, path=path, n=sizes[handler], repeats=reps
        )
        bare = s["bare"]
        ours = Figure.of(added(s["opskit-metrics"], bare))
        core = Figure.of(added(s["opskit-core"], bare))
        alone = Figure.of(added(s["opskit-metrics"], s["opskit-core"]))
        anchor = Figure.of(added(s["anchor-metrics"], bare))
        mp_extra = Figure.of(added(s["opskit-metrics-mp"], s["opskit-metrics"]))
        h = handler.upper()
        records.append(
            Record(
                suite="metrics",
                metric=f"{h} CPU per request added over bare Django (core middleware + metrics)",
                unit="µs",
                better="lower",
                opskit=ours,
                anchors={"django-prometheus": anchor},
                baseline={
                    "bare Django (absolute)": Figure.of(bare),
                    "opskit core middleware alone": core,
                },
                target="≤ 1/3 of django-prometheus",
                verdict=ratio_verdict(ours.median, anchor.median, 1 / 3),
            )
        )
        records.append(
            Record(
                suite="metrics",
                metric=f"{h} CPU per request of the metrics extension alone (over opskit-core)",
                unit="µs",
                better="lower",
                opskit=alone,
                anchors={"django-prometheus": anchor},
                target="≤ 1/3 of django-prometheus",
                verdict=ratio_verdict(alone.median, anchor.median, 1 / 3),
            )
        )
        records.append(
            Record(
                suite="metrics",
                metric=f"{h} CPU per request, multi-process mode over single-process",
                unit="µs",
                better="lower",
                opskit=mp_extra,
                target="≤ +10 µs",
                verdict=("met" if mp_extra.median <= 10 else "NOT met")
                + f": +{mp_extra.median:.1f} µs",
                notes="PROMETHEUS_MULTIPROC_DIR set: every value update writes to an mmap file",
            )
        )
    return records
