"""Per-request CPU of the core middleware vs bare Django vs the anchor stack.

Anchor stack: django-prometheus + django-structlog + django-guid, as a team
would combine them for metrics, logs and correlation ids.
"""

from __future__ import annotations

from ..stats import Figure, Record
from ..util import added, interleaved

VARIANTS = ["bare", "opskit-core", "opskit-full", "anchors"]


def run(quick: bool = False) -> list[Record]:
    rounds, n, reps = (1, 800, 3) if quick else (3, 3000, 3)
    records = []
    for handler, path in (("wsgi", "/sync/1/"), ("asgi", "/async/1/")):
        # An ASGI request through Django's handler costs ~25x a WSGI one
        # (its own thread hops), so fewer of them keep the suite short.
        count = n if handler == "wsgi" else max(n // 4, 200)
        s = interleaved(VARIANTS, rounds, handler=handler, path=path, n=count, repeats=reps)
        bare = s["bare"]
        records.append(
            Record(
                suite="core",
                metric=f"{handler.upper()} CPU per request, added over bare Django (core middleware only)",
                unit="µs",
                better="lower",
                opskit=Figure.of(added(s["opskit-core"], bare)),
                anchors={"prometheus+structlog+guid": Figure.of(added(s["anchors"], bare))},
                baseline={"bare Django (absolute)": Figure.of(bare)},
            )
        )
        records.append(
            Record(
                suite="core",
                metric=f"{handler.upper()} CPU per request, added over bare Django (all capabilities on)",
                unit="µs",
                better="lower",
                opskit=Figure.of(added(s["opskit-full"], bare)),
                anchors={"prometheus+structlog+guid": Figure.of(added(s["anchors"], bare))},
                notes="opskit-full: request id, JSON log line, metrics, query monitor, slow-request check",
            )
        )
    return records
