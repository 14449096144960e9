"""Request logging + request id: added CPU per request and what each line carries.

opskit: core middleware + the JSON request line (``opskit-logging``).
Anchors: django-structlog + django-guid (``anchor-logging``), the pair a team
combines for JSON request logs and a correlation id.  Same run, same
machine, same sink (a stream that discards what it is given).
"""

from __future__ import annotations

import json
from typing import Any

from ..stats import Figure, Record
from ..util import added, interleaved, ratio_verdict, run_inproc

VARIANTS = ["bare", "opskit-logging", "anchor-logging"]
ANCHOR = "django-structlog+django-guid"


def sample_lines(variant: str, handler: str, path: str, n: int = 50) -> dict[str, Any]:
    """The log lines a variant writes for ``n`` (+200 warm-up) requests."""
    data: dict[str, Any] = run_inproc(variant, handler, path, n, "--sample-lines")
    return data


def describe(sample: dict[str, Any]) -> dict[str, Any]:
    lines = sample["lines"]
    parsed = [json.loads(line) for line in lines]
    keys = {k for p in parsed for k in p}
    return {
        "lines_per_request": len(lines) / sample["requests"],
        "bytes_per_line": [float(len(line.encode())) for line in lines],
        "bytes_per_request": sum(len(line.encode()) for line in lines) / sample["requests"],
        "duration": any("duration" in k or k in ("elapsed", "latency") for k in keys),
        "route": any("route" in k for k in keys),
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def run(quick: bool = False) -> list[Record]:
    records = []
    for handler, path in (("wsgi", "/sync/1/"), ("asgi", "/async/1/")):
        if handler == "wsgi":
            rounds, n, reps = (1, 800, 3) if quick else (3, 2500, 3)
        else:
            # ~2 ms per request through the ASGI harness, mostly thread hops
            # whose cost swings with the machine's load: many short,
            # interleaved rounds so drift hits every variant alike.
            rounds, n, reps = (3, 300, 1) if quick else (6, 500, 1)
        s = interleaved(VARIANTS, rounds, handler=handler, path=path, n=n, repeats=reps)
        bare = s["bare"]
        ours = Figure.of(added(s["opskit-logging"], bare))
        theirs = Figure.of(added(s["anchor-logging"], bare))
        # Load from other processes only ever adds time: the minima are a
        # second, less noisy estimate (the ASGI harness alone varies ±15%).
        low_ours = min(s["opskit-logging"]) - min(bare)
        low_theirs = min(s["anchor-logging"]) - min(bare)
        low_ratio = low_ours / low_theirs if low_theirs > 0 else float("nan")
        records.append(
            Record(
                suite="logging",
                metric=f"{handler.upper()} CPU per request added over bare Django: request log line + request id",
                unit="µs",
                better="lower",
                opskit=ours,
                anchors={ANCHOR: theirs},
                baseline={"bare Django (absolute)": Figure.of(bare)},
                target="≤ 1/3 of the anchors' added CPU",
                verdict=ratio_verdict(ours.median, theirs.median, 1 / 3),
                notes=(
                    "opskit-logging: core middleware + JSON request line, written to "
                    f"/dev/null (encoded, one write per line); from the minima: opskit +{low_ours:.0f} µs, anchors "
                    f"+{low_theirs:.0f} µs ({low_ratio:.2f}x)"
                ),
            )
        )
    ours_d = describe(sample_lines("opskit-logging", "wsgi", "/sync/1/"))
    theirs_d = describe(sample_lines("anchor-logging", "wsgi", "/sync/1/"))
    records.append(
        Record(
            suite="logging",
            metric="Bytes per log line (one request, GET /sync/1/)",
            unit="B",
            better="lower",
            opskit=Figure.of(ours_d["bytes_per_line"]),
            anchors={ANCHOR: Figure.of(theirs_d["bytes_per_line"])},
            notes=(
                f"lines per request: opskit {ours_d['lines_per_request']:g}, anchors "
                f"{theirs_d['lines_per_request']:g}; bytes per request: opskit "
                f"{ours_d['bytes_per_request']:.0f}, anchors {theirs_d['bytes_per_request']:.0f}; "
                f"duration in the line: opskit {_yes(ours_d['duration'])}, anchors "
                f"{_yes(theirs_d['duration'])}; route in the line: opskit "
                f"{_yes(ours_d['route'])}, anchors {_yes(theirs_d['route'])}"
            ),
            target="a line with duration and route",
            verdict=(
                "met"
                if ours_d["duration"] and ours_d["route"] and ours_d["lines_per_request"] == 1
                else "NOT met"
            ),
        )
    )
    records.append(rotation_record(quick))
    return records


# -- rotating file handlers: cost per line (issue 18) --------------------------

ROTATION_HANDLERS = {
    "opskit": "concurrent_log_handler.ConcurrentRotatingFileHandler",
    "stdlib RotatingFileHandler (one process only)": "logging.handlers.RotatingFileHandler",
    "stdlib WatchedFileHandler (logrotate)": "logging.handlers.WatchedFileHandler",
}


def _per_line_us(handler_class: str, lines: int) -> float:
    """µs per request line through ``rotating_file_logging()``'s app-file handler.

    One process, files rotating at 1 MB (a rotation every ~3,500 lines is
    in the figure): the handler's own cost, formatting included.
    """
    import logging
    import logging.config
    import shutil
    import tempfile
    import time

    from opskit.logs import rotating_file_logging

    directory = tempfile.mkdtemp(prefix="opskit-bench-rotation-")
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logging.config.dictConfig(
            rotating_file_logging(directory, handler_class=handler_class, max_bytes=1 << 20)
        )
        app = next(h for h in root.handlers if h.get_name() == "opskit_app_file")
        rec = logging.LogRecord("opskit.request", logging.INFO, "", 0, "", (), None)
        rec.__dict__.update(
            {
                "request_id": "9f1c2e7a3b4d5e6f7a8b9c0d1e2f3a4b",
                "http.request.method": "GET",
                "url.path": "/api/posts/42/",
                "http.route": "api/posts/<int:pk>/",
                "http.response.status_code": 200,
                "duration_ms": 3.42,
                "http.response.body.size": 512,
            }
        )
        for _ in range(200):  # warm-up: files opened, the lock file created
            app.handle(rec)
        t0 = time.perf_counter()
        for _ in range(lines):
            app.handle(rec)
        return (time.perf_counter() - t0) / lines * 1e6
    finally:
        for h in root.handlers:
            if h not in saved[0]:
                h.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        shutil.rmtree(directory, ignore_errors=True)


def rotation_record(quick: bool = False) -> Record:
    rounds, lines = (3, 5000) if quick else (5, 10000)
    samples: dict[str, list[float]] = {name: [] for name in ROTATION_HANDLERS}
    for _ in range(rounds):  # interleaved: drift hits every handler alike
        for name, cls in ROTATION_HANDLERS.items():
            samples[name].append(_per_line_us(cls, lines))
    ours = Figure.of(samples["opskit"])
    stdlib = Figure.of(samples["stdlib RotatingFileHandler (one process only)"])
    return Record(
        suite="logging",
        metric="Rotating file handler: µs per request line (rotating_file_logging default)",
        unit="µs",
        better="lower",
        opskit=ours,
        anchors={k: Figure.of(v) for k, v in samples.items() if k != "opskit"},
        target="report (the price of a lock per line; safe with N processes)",
        verdict=f"{ours.median - stdlib.median:+.1f} µs per line over RotatingFileHandler",
        notes=(
            "ConcurrentRotatingFileHandler (concurrent-log-handler: a lock file around each "
            "write and rotation) vs the stdlib handlers, one process, JSON request line, "
            f"rotating at 1 MB, {lines} lines x {rounds} rounds"
        ),
    )
