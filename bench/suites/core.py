"""Per-request CPU of opskit vs bare Django vs the anchor stack, through the whole handlers.

Anchor stack: django-prometheus + django-structlog + django-guid, as a team
would combine them for metrics, logs and correlation ids.  WSGI requests go
through ``WSGIHandler``, ASGI ones through ``ASGIHandler`` with a real
scope, receive and send (and Django's per-request thread work, the same for
every variant).  Each variant runs beside bare Django in one process, in
alternating blocks (``bench.inproc --paired``): the added cost is each
block's difference to the bare block beside it, so the machine's drift,
which moves an ASGI request by hundreds of microseconds, mostly cancels.
Under ASGI the same blocks also give the CPU of the event loop's thread
alone, where opskit's middleware runs, and the calls handed to a thread per
request (``sync_to_async`` hops): Django's per-request thread work is most
of the process-wide figure's noise, and a hop of opskit's own would show.
A last pair of rows times opskit's own steps inside each handler: the same
instructions run about half as fast inside the ASGI handler.
"""

from __future__ import annotations

import statistics

from ..stats import Figure, Record
from ..util import PairedRounds, paired_rounds, run_inproc

VARIANTS = ["opskit-core", "opskit-full", "anchors"]
TARGET_US = 35.0
#: What the anchor stack added (WSGI) on the machine where the 35 µs target
#: was set (issue 20's review): the target as a share of the anchors' added
#: CPU, which a slower or faster machine scales alike.
TARGET_ANCHORS_US = 311.0


def run(quick: bool = False) -> list[Record]:
    rounds, blocks = (1, 4) if quick else (3, 10)
    records = []
    for handler, path, n in (("wsgi", "/sync/1/", 300), ("asgi", "/async/1/", 150)):
        # An ASGI block's difference to its bare neighbour spreads over
        # hundreds of µs (Django's per-request thread work): twice the
        # blocks halve the median's spread.
        nb = blocks * 2 if handler == "asgi" else blocks
        pr = paired_rounds(VARIANTS, rounds, handler=handler, path=path, n=n, blocks=nb)
        absolute, added = pr.absolute, pr.added
        anchors = {"prometheus+structlog+guid": Figure.of(added["anchors"])}
        h = handler.upper()
        records.append(
            Record(
                suite="core",
                metric=f"{h} CPU per request, added over bare Django (core middleware only)",
                unit="µs",
                better="lower",
                opskit=Figure.of(added["opskit-core"]),
                anchors=anchors,
                baseline={"bare Django (absolute)": Figure.of(absolute["bare"])},
            )
        )
        full = Figure.of(added["opskit-full"])
        records.append(
            Record(
                suite="core",
                metric=f"{h} CPU per request, added over bare Django (all capabilities on)",
                unit="µs",
                better="lower",
                opskit=full,
                anchors=anchors,
                target=f"≤ {TARGET_US:g} µs",
                verdict=f"{'met' if full.median <= TARGET_US else 'NOT met'}: "
                f"+{full.median:.1f} µs",
                notes=(
                    "opskit-full: request id, JSON log line, metrics, query monitor, "
                    f"slow-request check; {n} requests per block, each against the bare "
                    "block beside it in the same process"
                    + (
                        _scaled(full, anchors["prometheus+structlog+guid"])
                        if handler == "wsgi"
                        else ""
                    )
                ),
            )
        )
        if handler == "asgi":
            records.append(_loop_thread(pr))
    records.append(_sections(5 if quick else 15))
    records.append(_n_plus_one_report(rounds, blocks))
    return records


def _sections(repeats: int) -> Record:
    """opskit's own steps timed inside each handler (``bench.inproc --sections``).

    The same code, the same instructions under both handlers (the
    ``instructions`` suite counts them); what differs is how fast it runs
    there.  Under ASGI every request also runs Django's event-loop turns and
    per-request thread work, in system calls and thread starts, between
    opskit's steps; the caches and branch predictors they leave behind are
    what makes the ASGI rows above cost more than the WSGI ones.
    """
    runs = {
        h: Figure.of(run_inproc("opskit-full", h, p, 300, "--sections", "--repeats", str(repeats)))
        for h, p in (("wsgi", "/sync/1/"), ("asgi", "/async/1/"))
    }
    return Record(
        suite="core",
        metric="opskit's own steps per request, timed inside Django's ASGI handler "
        "(all capabilities on)",
        unit="µs",
        better="lower",
        opskit=runs["asgi"],
        baseline={"the same steps inside the WSGI handler": runs["wsgi"]},
        verdict=f"ASGI {runs['asgi'].median / runs['wsgi'].median:.2f}x WSGI",
        notes=(
            "wall time (perf_counter) of the middleware's _begin, request-started hooks and "
            f"_respond (request line, metrics, finished hooks), {repeats} runs of 300 requests "
            "each; the same instructions under both handlers (instructions suite)"
        ),
    )


def _n_plus_one_report(rounds: int, blocks: int) -> Record:
    """What a request that reports an N+1 pays for the report (issue 20's review: ~50 µs).

    ``/db/`` runs one SQL shape 10 times: with every capability on it is an
    N+1 (a JSON WARNING on ``opskit.queries``, the signal, the metric); the
    same request with the threshold out of reach still tracks the shapes but
    reports nothing.  Each variant's blocks are measured against bare Django
    beside them; the report's cost is the difference, block by block.
    """
    variants = ["opskit-full", "opskit-full-nosearch"]
    pr = paired_rounds(variants, rounds, handler="wsgi", path="/db/", n=200, blocks=blocks)
    report = [
        a - b
        for a, b in zip(pr.added["opskit-full"], pr.added["opskit-full-nosearch"], strict=True)
    ]
    return Record(
        suite="core",
        metric="WSGI CPU added by an N+1 report (10 queries of one shape, every capability on)",
        unit="µs",
        better="lower",
        opskit=Figure.of(report),
        baseline={
            "the request, N+1 reported, over bare Django": Figure.of(pr.added["opskit-full"]),
            "the same, no N+1 search, over bare Django": Figure.of(
                pr.added["opskit-full-nosearch"]
            ),
        },
        notes=(
            "one JSON WARNING line (opskit.queries, to /dev/null), the n_plus_one_detected "
            "signal and metric, the call site; the difference of two paired variants, "
            "block by block"
        ),
    )


def _loop_thread(pr: PairedRounds) -> Record:
    """ASGI: the event loop's thread alone, and the thread hops per request.

    Django's per-request thread work (a new executor thread per request,
    the signal hops) moves the whole process's CPU by hundreds of µs from
    block to block; opskit's middleware runs on the loop's thread.  A
    ``sync_to_async`` hop of opskit's own would show as one more call handed
    to a thread than in the bare blocks beside it.
    """
    hops = {v: statistics.median(pr.hops[v]) for v in VARIANTS} | {
        "bare": statistics.median(x for v in VARIANTS for x in pr.bare_hops[v])
    }
    return Record(
        suite="core",
        metric="ASGI CPU per request on the event loop's thread, added over bare Django "
        "(all capabilities on)",
        unit="µs",
        better="lower",
        opskit=Figure.of(pr.added_thread["opskit-full"]),
        anchors={"prometheus+structlog+guid": Figure.of(pr.added_thread["anchors"])},
        notes=(
            "time.thread_time() of the thread that runs the event loop, in the same blocks "
            "as the row above (each against the bare block beside it); calls handed to a "
            "thread per request (sync_to_async hops, median of blocks): "
            + ", ".join(f"{k} {v:.2f}" for k, v in hops.items())
        ),
    )


def _scaled(full: Figure, anchors: Figure) -> str:
    """The WSGI target as a share of the anchors' added CPU, and this run's share."""
    return (
        "; the target was set on a machine where the anchor stack added "
        f"{TARGET_ANCHORS_US:g} µs, i.e. ≤ {TARGET_US / TARGET_ANCHORS_US:.3f}x the anchors' "
        f"added CPU: {full.median / anchors.median:.3f}x in this run"
    )
