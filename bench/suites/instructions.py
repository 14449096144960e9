"""Instructions per request under callgrind: the in-process ratios without the noise.

The CPU-time suites share a 2-core virtual machine with its neighbours, and
their spreads (``min–max``) are often wider than the differences they
measure.  Valgrind's callgrind counts the instructions a process executes,
which do not depend on what else the machine is doing: the same run counts
the same to within a few dozen instructions in a billion.

Each variant runs ``bench.inproc`` (WSGI, ``GET /sync/1/``; bare Django,
every capability and the anchors also under ASGI, ``GET /async/1/``) three times
under callgrind, with 200 warm-up requests and then ``N`` more, for three
values of ``N``.  Differences between consecutive runs leave out Django's
setup and the warm-up: each is the instructions of the added requests
divided by their number, so a variant has two per-request figures (shown as
min–max; equal figures show the count is reproducible).  Added per request is
each variant minus bare Django.  Instructions are not CPU time (cache misses
and branch mispredictions are not in them) but they rank and scale the same
work without the noise, so a ratio target read here is settled rather than
at the mercy of a neighbour's load.
"""

from __future__ import annotations

import itertools
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

from ..stats import Figure, Record
from ..util import callgrind_instructions, ratio_verdict

PATH = "/sync/1/"
#: (opskit variant, anchor variant, what the pair compares, the target ratio).
PAIRS = [
    ("opskit-metrics", "anchor-metrics", "core middleware + metrics vs django-prometheus", 1 / 3),
    (
        "opskit-logging",
        "anchor-logging",
        "core middleware + request id + JSON log line vs django-structlog + django-guid",
        1 / 3,
    ),
    (
        "opskit-full",
        "anchors",
        "every capability vs django-prometheus + django-structlog + django-guid",
        1 / 5,
    ),
]
LABELS = {
    "anchor-metrics": "django-prometheus",
    "anchor-logging": "django-structlog+django-guid",
    "anchors": "prometheus+structlog+guid",
}
VARIANTS = ["bare", "opskit-core", *dict.fromkeys(v for p in PAIRS for v in p[:2])]
#: Under ASGI (``ASGIHandler``, an async view): what the CPU-time rows of the
#: ``core`` suite measure through hundreds of µs of per-request thread noise.
ASGI_PATH = "/async/1/"
ASGI_VARIANTS = ["bare", "opskit-full", "anchors"]


def _instructions(variant: str, n: int, handler: str = "wsgi") -> int:
    """Instructions of one ``bench.inproc`` run of ``n`` requests (plus warm-up)."""
    path = PATH if handler == "wsgi" else ASGI_PATH
    return callgrind_instructions(
        [
            *("bench.inproc", "--variant", variant, "--handler", handler, "--path", path),
            *("--n", str(n), "--repeats", "1"),
        ],
        f"{variant} {handler} (n={n})",
    )


def per_request(counts: dict[int, int]) -> list[float]:
    """Per-request instructions from consecutive runs' differences."""
    ns = sorted(counts)
    return [(counts[b] - counts[a]) / (b - a) for a, b in itertools.pairwise(ns)]


def run(quick: bool = False) -> list[Record]:
    if shutil.which("valgrind") is None:
        raise RuntimeError(
            "valgrind is not installed (apt-get install valgrind); `make bench` installs it"
        )
    sizes = (50, 100, 150) if quick else (50, 150, 250)
    jobs = [(v, n, "wsgi") for v in VARIANTS for n in sizes]
    jobs += [(v, n, "asgi") for v in ASGI_VARIANTS for n in sizes]
    # Counts do not depend on load, so the runs may share the cores.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = dict(zip(jobs, pool.map(lambda j: _instructions(*j), jobs), strict=True))
    per = {v: per_request({n: results[(v, n, "wsgi")] for n in sizes}) for v in VARIANTS}
    bare = per["bare"]

    def added(variant: str) -> Figure:
        # Pair each estimate with bare's from the same N interval.
        return Figure.of([(x - b) / 1000 for x, b in zip(per[variant], bare, strict=True)])

    core = added("opskit-core")
    records = [
        Record(
            suite="instructions",
            metric="WSGI instructions per request added over bare Django (core middleware only)",
            unit="k instr.",
            better="lower",
            opskit=core,
            baseline={"bare Django (absolute)": Figure.of([b / 1000 for b in bare])},
            notes="callgrind; Django's setup and warm-up left out by differences",
        )
    ]
    for ours_v, theirs_v, what, target in PAIRS:
        ours, theirs = added(ours_v), added(theirs_v)
        records.append(
            Record(
                suite="instructions",
                metric=f"WSGI instructions per request added over bare Django: {what}",
                unit="k instr.",
                better="lower",
                opskit=ours,
                anchors={LABELS[theirs_v]: theirs},
                target="" if target is None else f"≤ 1/{round(1 / target)} of the anchor",
                verdict=(
                    f"{ours.median / theirs.median:.2f}x"
                    if target is None
                    else ratio_verdict(ours.median, theirs.median, target)
                ),
            )
        )
    records.append(_asgi(results, sizes))
    return records


def _asgi(results: dict[tuple[str, int, str], int], sizes: tuple[int, ...]) -> Record:
    """Every capability against the anchor stack through Django's ASGI handler.

    Django's per-request thread work (a new executor thread, the signal
    hops) is in every variant's count, bare's too.  Where the threads switch
    is not fixed, so these counts do not repeat as the WSGI ones do: bare
    Django's moved by about 1k per request between runs on 2026-12-04, an
    added figure by up to about 7k (its min–max).
    """
    per = {v: per_request({n: results[(v, n, "asgi")] for n in sizes}) for v in ASGI_VARIANTS}

    def added(variant: str) -> Figure:
        return Figure.of([(x - b) / 1000 for x, b in zip(per[variant], per["bare"], strict=True)])

    ours, theirs = added("opskit-full"), added("anchors")
    return Record(
        suite="instructions",
        metric="ASGI instructions per request added over bare Django: "
        "every capability vs django-prometheus + django-structlog + django-guid",
        unit="k instr.",
        better="lower",
        opskit=ours,
        anchors={LABELS["anchors"]: theirs},
        baseline={"bare Django (absolute)": Figure.of([b / 1000 for b in per["bare"]])},
        verdict=f"{ours.median / theirs.median:.2f}x",
        notes=f"async view ({ASGI_PATH}) through ASGIHandler with a real scope, receive and send",
    )
