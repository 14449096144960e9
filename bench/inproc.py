"""In-process request cost through Django's whole WSGI and ASGI handlers.

Run as a subprocess per variant (Django settings are per process):

    python -m bench.inproc --variant bare --handler wsgi --n 3000 --repeats 7

prints a JSON list with the CPU microseconds per request of each repeat
(``time.process_time``: every thread of the process counts, so a
``sync_to_async`` hop is paid for).  ``--handler asgi`` drives
``ASGIHandler`` itself with a real scope, receive and send.

    python -m bench.inproc --variant opskit-full --handler asgi --n 300 --paired 20

runs the variant and bare Django side by side in one process, 20 blocks of
300 requests each in turn, and prints both lists of block figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

BASE_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
BASE_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
DEVNULL = "devnull"
#: Where Sentry variants send (nothing is sent on success; sessions at exit).
SENTRY_DSN = "http://public@127.0.0.1:9/1"

OPSKIT_OFF = {
    "LOGGING": {"ENABLED": False},
    "METRICS": {"ENABLED": False},
    "RATELIMIT": {"ENABLED": False},
    "QUERIES": {"ENABLED": False},
    "SLOW_REQUESTS": {"ENABLED": False},
    "HEALTH": {"ENABLED": False},
}


def _only(*sections: str) -> dict[str, Any]:
    cfg = {k: dict(v) for k, v in OPSKIT_OFF.items()}
    for s in sections:
        cfg.pop(s, None)
    return cfg


def _devnull_handler(formatter: dict[str, Any] | None = None) -> dict[str, Any]:
    h: dict[str, Any] = {"class": "logging.StreamHandler", "stream": "ext://bench.inproc.SINK"}
    if formatter:
        h["formatter"] = "f"
    return h


def anchor_logging(handler: dict[str, Any]) -> dict[str, Any]:
    """django-structlog + django-guid as their docs set them up: JSON lines, the guid filter.

    Configures structlog (process-wide) and returns the ``LOGGING`` keys that
    send django-structlog's lines through ``handler``.
    """
    import structlog

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    return {
        "formatters": {
            "f": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processor": structlog.processors.JSONRenderer(),
            }
        },
        "filters": {"guid": {"()": "django_guid.log_filters.CorrelationId"}},
        "handlers": {"sink": {**handler, "formatter": "f", "filters": ["guid"]}},
        "loggers": {
            "django_structlog": {"handlers": ["sink"], "level": "INFO", "propagate": False},
            "django_guid": {"handlers": ["sink"], "level": "WARNING", "propagate": False},
        },
    }


class _Sink(io.TextIOBase):
    """Where every variant's log lines go: a real text stream on ``/dev/null``.

    Each line is encoded, buffered and written by one ``write`` system call
    when the handler flushes it, as on a server's stdout; only what a file
    system or a pipe reader would add is left out.  (It used to keep nothing
    and write nothing: about 0.6 µs per line less than this, 1.8 µs less
    than a file on disk.)
    """

    keep: list[str] | None = None  # set by --sample-lines to see what was written

    def __init__(self) -> None:
        self._out = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives with the process

    def write(self, s: str) -> int:
        if self.keep is not None:
            self.keep.append(s)
        return self._out.write(s)

    def flush(self) -> None:
        self._out.flush()


SINK = _Sink()


def variant_settings(name: str, handler: str = "wsgi") -> dict[str, Any]:
    """Settings for each measured variant (add new variants here)."""
    apps = list(BASE_APPS)
    # Under ASGI each of Django's MiddlewareMixin middleware costs two
    # thread-pool hops per request (~1 ms of CPU together, +-20 %), the same
    # for every variant; without them the variants' own cost is measurable.
    mw = list(BASE_MIDDLEWARE) if handler == "wsgi" else []
    opskit: dict[str, Any] = {}
    logging_cfg: dict[str, Any] = {"version": 1, "disable_existing_loggers": False}
    if name == "bare":
        pass
    elif name.startswith("opskit"):
        apps.append("opskit")
        mw.insert(0, "opskit.middleware.OpsKitMiddleware")
        if name == "opskit-core":
            opskit = _only()
        elif name == "opskit-logging":
            opskit = _only("LOGGING")
        elif name == "opskit-metrics" or name == "opskit-metrics-mp":
            opskit = _only("METRICS")
        elif name == "opskit-queries":
            opskit = _only("QUERIES")
        elif name == "opskit-full":
            opskit = {}
        elif name == "opskit-full-nosearch":
            # Every capability, the query shapes still tracked, but no shape can
            # reach the N+1 threshold: the same request without its N+1 report.
            opskit = {"QUERIES": {"N_PLUS_ONE_THRESHOLD": 1_000_000}}
        elif name in ("opskit-sentry", "opskit-sentry-django"):
            # opskit initialises sentry-sdk itself (ready hook), errors only;
            # -django: with sentry-sdk's DjangoIntegration (cheap options).
            opskit = _only()
            opskit["SENTRY"] = {
                "DSN": os.environ.get("OPSKIT_BENCH_SENTRY_DSN", SENTRY_DSN),
                "INTEGRATION": "django" if name.endswith("-django") else "auto",
                # Exploration knob: extra SENTRY keys as JSON.
                **json.loads(os.environ.get("OPSKIT_BENCH_SENTRY_EXTRA", "{}")),
            }
        else:
            raise SystemExit(f"unknown variant {name}")
        # Exploration knob: OPSKIT sections merged over the variant's, as JSON.
        opskit.update(json.loads(os.environ.get("OPSKIT_BENCH_EXTRA", "{}")))
        if name in ("opskit-logging", "opskit-full", "opskit-full-nosearch"):
            sink = {"handlers": ["sink"], "level": "INFO", "propagate": False}
            logging_cfg.update(
                formatters={"f": {"()": "opskit.logs.JsonFormatter"}},
                # As json_logging() configures it (the anchors get django-guid's filter).
                filters={"rid": {"()": "opskit.logs.RequestIdFilter"}},
                handlers={"sink": {**_devnull_handler({"f": 1}), "filters": ["rid"]}},
                # The query monitor's WARNINGs (N+1, slow queries) as JSON lines too.
                loggers={"opskit.request": sink, "opskit.queries": dict(sink)},
            )
    elif name in HEALTH_VARIANTS:
        return _health_settings(name, apps, mw)
    elif name == "anchor-sentry":
        pass  # sentry_sdk.init() with the default DjangoIntegration, in main()
    elif name in ("anchors", "anchor-logging", "anchor-metrics"):
        if name in ("anchors", "anchor-metrics"):
            apps.append("django_prometheus")
            mw.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
            mw.append("django_prometheus.middleware.PrometheusAfterMiddleware")
        if name in ("anchors", "anchor-logging"):
            apps += ["django_structlog", "django_guid"]
            mw.insert(0, "django_guid.middleware.guid_middleware")
            mw.append("django_structlog.middlewares.RequestMiddleware")
            logging_cfg.update(anchor_logging(_devnull_handler({"f": 1})))
    else:
        raise SystemExit(f"unknown variant {name}")
    return {
        "DEBUG": False,
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": ["*"],
        "ROOT_URLCONF": "bench.inproc_urls",
        "INSTALLED_APPS": apps,
        "MIDDLEWARE": mw,
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        "USE_TZ": True,
        "OPSKIT": opskit,
        "LOGGING": logging_cfg,
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
    }


#: The health suite's in-process variants (probe path: ``/readyz``,
#: ``/watchman/``, ``/ht/``, ``/noop``) on SQLite and LocMem, with each
#: package's database and cache checks.
HEALTH_VARIANTS = ("health-opskit", "health-watchman", "health-check", "health-noop")


def _health_settings(name: str, apps: list[str], mw: list[str]) -> dict[str, Any]:
    opskit: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if name == "health-opskit":
        apps.append("opskit")
        mw.insert(0, "opskit.middleware.OpsKitMiddleware")
        opskit = _only("HEALTH")
        opskit["HEALTH"] = {"CHECKS": ["database:default", "cache:default"]}
    elif name == "health-watchman":
        apps.append("watchman")
        extra = {
            "WATCHMAN_CHECKS": ("watchman.checks.databases", "watchman.checks.caches"),
            "WATCHMAN_DATABASES": ("default",),
            "WATCHMAN_CACHES": ("default",),
        }
    elif name == "health-check":
        apps.append("health_check")
    return {
        "DEBUG": False,
        "SECRET_KEY": "bench",
        "ALLOWED_HOSTS": ["*"],
        "ROOT_URLCONF": "bench.healthproj.inproc_urls",
        "INSTALLED_APPS": apps,
        "MIDDLEWARE": mw,
        "DATABASES": {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        "CACHES": {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        "TEMPLATES": [
            {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
        ],
        "USE_TZ": True,
        "OPSKIT": opskit,
        "LOGGING": {"version": 1, "disable_existing_loggers": False},
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        **extra,
    }


def _environ(path: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": "bench",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


Runner = Callable[[int], None]


def _wsgi_runner(app: Any, path: str) -> Runner:
    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"bench request answered {status}")

    def run(count: int) -> None:
        for _ in range(count):
            b"".join(app(_environ(path), start_response))

    return run


def _scope(path: str) -> dict[str, Any]:
    """The ASGI scope of a plain GET, as a server would send it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


def _asgi_runner(app: Any, path: str, loop: asyncio.AbstractEventLoop) -> Runner:
    """Requests through the whole ``ASGIHandler``: a real scope, receive and send.

    As under a server, each request also pays Django's per-request thread
    work (``ThreadSensitiveContext``: a new executor thread, the
    ``request_started``/``request_finished`` hops): the same for every
    variant, several hundred microseconds, and noisy.
    """
    scope = _scope(path)

    async def one() -> None:
        status = 0
        sent_body = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # no disconnect; cancelled after the response
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(dict(scope), receive, send)
        if status != 200:
            raise SystemExit(f"bench request answered {status}")

    async def many(count: int) -> None:
        for _ in range(count):
            await one()

    def run(count: int) -> None:
        loop.run_until_complete(many(count))

    return run


def _app(handler: str) -> Any:
    """Django's full handler for ``handler``, its middleware loaded from settings now."""
    if handler == "wsgi":
        from django.core.handlers.wsgi import WSGIHandler

        return WSGIHandler()
    from django.core.handlers.asgi import ASGIHandler

    return ASGIHandler()


def _runner(handler: str, path: str) -> Runner:
    if handler == "wsgi":
        return _wsgi_runner(_app(handler), path)
    return _asgi_runner(_app(handler), path, asyncio.new_event_loop())


def _timed(run: Runner, n: int) -> float:
    """CPU µs per request of ``n`` requests (every thread of the process counts)."""
    t0 = time.process_time()
    run(n)
    return (time.process_time() - t0) / n * 1e6


def run_handler(handler: str, path: str, n: int, repeats: int) -> list[float]:
    run = _runner(handler, path)
    run(200)  # warm-up
    return [_timed(run, n) for _ in range(repeats)]


class _Hops:
    """Calls handed to a thread pool in this process (``ThreadPoolExecutor.submit``).

    Under ASGI each ``sync_to_async`` call is one: asgiref submits it to the
    request's own executor thread (or the loop's default executor).
    """

    def __init__(self) -> None:
        self.count = 0
        submit = ThreadPoolExecutor.submit

        def counted(pool: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return submit(pool, fn, *args, **kwargs)

        ThreadPoolExecutor.submit = counted  # type: ignore[method-assign]


def run_paired(
    variant: str, handler: str, path: str, n: int, blocks: int
) -> dict[str, list[float]]:
    """The variant and bare Django in one process, ``n`` requests of each in turn.

    Two handlers over the same settings, the second built with bare
    Django's middleware: alternating blocks share the process's and the
    machine's state of the moment, so a block's difference to its bare
    neighbour is the variant's cost with little of the drift that separate
    processes see (the order flips every block).

    Besides each block's CPU (every thread), ``*_thread`` is the CPU of the
    thread that drives the requests (under ASGI the event loop's, where
    opskit's middleware runs) and ``*_hops`` the calls handed to a thread
    pool per request: under ASGI, Django's per-request thread work is most
    of the noise, and a ``sync_to_async`` hop of the variant's own would
    show as one more.  (The count patches ``ThreadPoolExecutor.submit`` for
    the rest of this process, which only measures.)
    """
    from django.conf import settings

    if handler == "wsgi":
        run_v = _runner(handler, path)
        settings.MIDDLEWARE = variant_settings("bare", handler)["MIDDLEWARE"]
        run_b = _runner(handler, path)
    else:
        loop = asyncio.new_event_loop()
        run_v = _asgi_runner(_app(handler), path, loop)
        settings.MIDDLEWARE = variant_settings("bare", handler)["MIDDLEWARE"]
        run_b = _asgi_runner(_app(handler), path, loop)
    run_v(200)
    run_b(200)
    hops = _Hops()
    keys = [f"{k}{suffix}" for k in ("variant", "bare") for suffix in ("", "_thread", "_hops")]
    out: dict[str, list[float]] = {k: [] for k in keys}
    for i in range(blocks):
        pair = (("bare", run_b), ("variant", run_v))
        for key, run in pair if i % 2 == 0 else pair[::-1]:
            before = hops.count
            t0, c0 = time.process_time(), time.thread_time()
            run(n)
            t1, c1 = time.process_time(), time.thread_time()
            out[key].append((t1 - t0) / n * 1e6)
            out[f"{key}_thread"].append((c1 - c0) / n * 1e6)
            out[f"{key}_hops"].append((hops.count - before) / n)
    return out


def run_sections(handler: str, path: str, n: int, repeats: int) -> list[float]:
    """opskit's own steps per request (µs, wall), timed where they run in the handler.

    ``perf_counter`` around the middleware's ``_begin``, its request-started
    hooks and ``_respond`` (the response hooks, the request line, the
    metrics, the finished hooks): all of opskit's per-request work apart
    from a few calls, synchronous under both handlers.  The same code runs
    the same instructions under WSGI and ASGI (the ``instructions`` suite);
    timing it in both shows how fast it runs inside each.
    """
    from opskit import middleware

    spent = [0.0]
    clock = time.perf_counter

    def timed(func: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            t0 = clock()
            try:
                return func(*args)
            finally:
                spent[0] += clock() - t0

        return call

    mw = middleware.OpsKitMiddleware
    mw._begin = timed(mw._begin)  # type: ignore[method-assign]
    mw._respond = timed(mw._respond)  # type: ignore[method-assign]
    middleware._request_started = timed(middleware._request_started)
    run = _runner(handler, path)
    run(200)  # warm-up
    out = []
    for _ in range(repeats):
        spent[0] = 0.0
        run(n)
        out.append(spent[0] / n * 1e6)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", required=True)
    ap.add_argument("--handler", choices=["wsgi", "asgi"], default="wsgi")
    ap.add_argument("--path", default="/sync/")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="BLOCKS",
        help="alternate BLOCKS blocks of --n requests with bare Django in this process",
    )
    ap.add_argument(
        "--sections",
        action="store_true",
        help="print opskit's own steps per request (µs) in each of --repeats runs",
    )
    ap.add_argument(
        "--sample-lines",
        action="store_true",
        help="print the log lines written for --n requests instead of timings",
    )
    args = ap.parse_args()
    if args.variant == "opskit-metrics-mp":
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="opskit-bench-mp-")
    import django
    from django.conf import settings

    settings.configure(**variant_settings(args.variant, args.handler))
    if args.variant == "anchor-sentry":
        # What the Sentry docs tell a Django project to do (in settings.py).
        import sentry_sdk
        from sentry_sdk.integrations.django import DjangoIntegration

        sentry_sdk.init(
            dsn=os.environ.get("OPSKIT_BENCH_SENTRY_DSN", SENTRY_DSN),
            integrations=[DjangoIntegration()],
        )
    django.setup()
    logging.getLogger("django.request").disabled = True
    if args.sample_lines:
        # Run as __main__, the handlers write to the SINK of bench.inproc.
        from bench.inproc import SINK as sink

        sink.keep = []
        run_handler(args.handler, args.path, args.n, 1)  # plus 200 warm-up requests
        text = "".join(sink.keep)
        print(json.dumps({"requests": args.n + 200, "lines": text.splitlines()}))
        return
    if args.sections:
        print(json.dumps(run_sections(args.handler, args.path, args.n, args.repeats)))
        return
    if args.paired:
        print(json.dumps(run_paired(args.variant, args.handler, args.path, args.n, args.paired)))
        return
    print(json.dumps(run_handler(args.handler, args.path, args.n, args.repeats)))


if __name__ == "__main__":
    main()
