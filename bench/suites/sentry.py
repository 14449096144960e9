"""Per-request CPU added by Sentry: opskit's configuration vs the default.

The anchor is what Sentry's docs tell a Django project to write,
``sentry_sdk.init(dsn=..., integrations=[DjangoIntegration()])``; opskit's
variant is ``OPSKIT["SENTRY"]["DSN"]`` and nothing else.  Both errors only
(no traces sample rate), both sending to a local HTTP sink in this process
(a successful request sends nothing; release-health sessions are flushed
there).  Each is measured over its own baseline in the same run: bare Django
for the anchor, opskit's core middleware for opskit, so the figure is the
Sentry configuration's own cost.
"""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..stats import Figure, Record
from ..util import added, interleaved, ratio_verdict

VARIANTS = ["bare", "anchor-sentry", "opskit-core", "opskit-sentry", "opskit-sentry-django"]


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def run(quick: bool = False) -> list[Record]:
    rounds, n, reps = (1, 800, 3) if quick else (2, 2000, 3)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["OPSKIT_BENCH_SENTRY_DSN"] = f"http://public@127.0.0.1:{server.server_address[1]}/1"
    records = []
    try:
        # sentry-sdk hooks ASGI at ASGIHandler.__call__, so the ASGI rows go
        # through the whole handler, like every ASGI row.
        for handler, path in (("wsgi", "/sync/1/"), ("asgi", "/async/1/")):
            s = interleaved(VARIANTS, rounds, handler=handler, path=path, n=n, repeats=reps)
            ours = Figure.of(added(s["opskit-sentry"], s["opskit-core"]))
            ours_django = Figure.of(added(s["opskit-sentry-django"], s["opskit-core"]))
            theirs = Figure.of(added(s["anchor-sentry"], s["bare"]))
            records.append(
                Record(
                    suite="sentry",
                    metric=f"{handler.split('-')[0].upper()} CPU per request added by Sentry, errors only",
                    unit="µs",
                    better="lower",
                    opskit=ours,
                    anchors={"sentry-sdk DjangoIntegration() default": theirs},
                    baseline={
                        "bare Django (absolute)": Figure.of(s["bare"]),
                        "opskit core (absolute)": Figure.of(s["opskit-core"]),
                    },
                    target="≤ 0.5x the default DjangoIntegration",
                    verdict=ratio_verdict(ours.median, theirs.median, 0.5),
                    notes="opskit default (INTEGRATION='auto', tracing off): opskit's lean "
                    "Django integration, one isolation scope per request, tags and request "
                    "data added at capture time",
                )
            )
            records.append(
                Record(
                    suite="sentry",
                    metric=f"{handler.split('-')[0].upper()} CPU per request added by Sentry, errors only, "
                    "opskit with INTEGRATION='django'",
                    unit="µs",
                    better="lower",
                    opskit=ours_django,
                    anchors={"sentry-sdk DjangoIntegration() default": theirs},
                    target="≤ 0.5x the default DjangoIntegration",
                    verdict=ratio_verdict(ours_django.median, theirs.median, 0.5),
                    notes="sentry-sdk's DjangoIntegration with signals/middleware/cache spans "
                    "off and no per-request trace start (http_methods_to_capture=())",
                )
            )
        # Ten queries per request: sentry-sdk's cursor hook runs on each one
        # even with tracing off; opskit's lean integration installs none.
        db_variants = ["bare", "anchor-sentry", "opskit-core", "opskit-sentry"]
        s = interleaved(db_variants, rounds, handler="wsgi", path="/db/", n=n, repeats=reps)
        ours = Figure.of(added(s["opskit-sentry"], s["opskit-core"]))
        theirs = Figure.of(added(s["anchor-sentry"], s["bare"]))
        records.append(
            Record(
                suite="sentry",
                metric="WSGI CPU per request added by Sentry, errors only, view with 10 SQL queries",
                unit="µs",
                better="lower",
                opskit=ours,
                anchors={"sentry-sdk DjangoIntegration() default": theirs},
                target="≤ 0.5x the default DjangoIntegration",
                verdict=ratio_verdict(ours.median, theirs.median, 0.5),
                notes="SQLite in memory, SELECT %s x10",
            )
        )
    finally:
        server.shutdown()
        server.server_close()
        os.environ.pop("OPSKIT_BENCH_SENTRY_DSN", None)
    return records
