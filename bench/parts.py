"""Instructions per request of each part of opskit's request path, under callgrind.

    python -m bench.parts                 # every part
    python -m bench.parts log_finished metrics_finished

Where the ``instructions`` suite counts what a whole request adds, this
splits it: each part (the middleware as a whole, ``_begin``, each
capability's hooks, the request line's steps) is called in a loop in a
process of its own with every capability on (the ``opskit-full`` settings),
once 0 and once ``N`` times after a warm-up, under
``valgrind --tool=callgrind``; the difference over ``N`` is the part's
instructions per call, reproducible to a few instructions.  A no-op part
shows what the loop itself costs (about 0.9k).

The parts run hot, on one prepared request and response: what a part costs
inside Django's whole handler, where its code and data are cold, is about
three times its hot time, but its instructions are the same.  This is a tool
for finding what to trim, not a suite: ``make bench`` does not run it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .util import callgrind_instructions


def _parts() -> dict[str, Callable[[], Any]]:
    """Each part as a call on one prepared request (Django set up as opskit-full)."""
    import django
    from django.conf import settings

    from bench import inproc

    settings.configure(**inproc.variant_settings("opskit-full", "wsgi"))
    django.setup()
    from django.http import JsonResponse
    from django.test import RequestFactory

    from opskit import middleware
    from opskit.extensions import get_extensions
    from opskit.logs.direct import plain_handlers, write_direct

    request = RequestFactory().get("/sync/1/")
    response = JsonResponse({"ok": True})
    mw = middleware.OpsKitMiddleware(lambda r: response)
    pipeline = get_extensions()
    record, _ = mw._begin(request)
    record.status = 200
    record.route = "sync/<int:pk>/"
    record.view = "bench.inproc_urls.sync_view"
    record.finish()
    ext = {type(e).__name__: e for e in [*pipeline.started, *pipeline.finished]}
    log = ext["RequestLogExtension"]
    handlers = plain_handlers(log.logger, logging.INFO) or []
    fields = {
        "request_id": record.request_id,
        "http.request.method": "GET",
        "url.path": "/sync/1/",
        "http.route": "sync/<int:pk>/",
        "view": "bench.inproc_urls.sync_view",
        "http.response.status_code": 200,
        "duration_ms": 0.12,
        "client.address": "127.0.0.1",
        "db.query_count": 0,
        "db.duration_ms": 0.0,
    }
    formatter: Any = handlers[0].formatter if handlers else None
    return {
        "noop": lambda: None,
        "middleware": lambda: mw(request),
        "begin": lambda: mw._begin(request),
        "started": lambda: mw._started(record, request, pipeline),
        "respond": lambda: mw._respond(record, request, response, pipeline),
        "queries_started": lambda: ext["QueriesExtension"].request_started(record, request),
        "queries_finished": lambda: ext["QueriesExtension"].request_finished(
            record, request, response
        ),
        "metrics_started": lambda: ext["MetricsExtension"].request_started(record, request),
        "metrics_finished": lambda: ext["MetricsExtension"].request_finished(
            record, request, response
        ),
        "log_finished": lambda: log.request_finished(record, request, response),
        "log_plain_handlers": lambda: plain_handlers(log.logger, logging.INFO),
        "log_write": lambda: write_direct(handlers, log.logger.name, logging.INFO, fields),
        "log_format": lambda: formatter.request_line(1.7e9, "INFO", "opskit.request", fields),
        "request_id_header": lambda: response.__setitem__("X-Request-ID", record.request_id),
    }


def _loop(part: str, n: int) -> None:
    call = _parts()[part]
    for _ in range(200):  # warm-up: caches filled, lazy objects built
        call()
    for _ in range(n):
        call()


def _instructions(part: str, n: int) -> int:
    return callgrind_instructions(["bench.parts", "--loop", part, str(n)], f"{part} (n={n})")


def per_call(part: str, n: int = 4000) -> float:
    """Instructions per call of ``part``: (runs of ``n`` calls − runs of none) / ``n``."""
    return (_instructions(part, n) - _instructions(part, 0)) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("parts", nargs="*", help="parts to count (default: all)")
    ap.add_argument("--n", type=int, default=4000, help="calls per counted run")
    ap.add_argument("--loop", nargs=2, metavar=("PART", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loop:
        _loop(args.loop[0], int(args.loop[1]))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    names = args.parts or list(_parts())
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = list(pool.map(lambda p: per_call(p, args.n), names))
    width = max(len(n) for n in names)
    for name, count in zip(names, counts, strict=True):
        print(f"{name:<{width}}  {count / 1000:7.1f}k instructions per call")


if __name__ == "__main__":
    main()
