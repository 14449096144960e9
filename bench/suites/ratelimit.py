"""Rate limiting: opskit vs django-ratelimit, DRF throttling and ``limits``.

Everything runs against one private ``redis-server`` (free port, temp dir) in
a worker subprocess with its own Django settings, so the command counts are
ours alone and the hung-Redis case can freeze it with SIGSTOP.

Measured per decision (a counted, admitted request):
* Redis round trips (commands sent by the client, seen with ``MONITOR``;
  commands run inside a Lua script are not round trips);
* wall latency p50, against a redis-py ``PING`` p50 on the same server;
* client CPU (``time.process_time``; the Redis server is another process);
* Redis memory per key (``MEMORY USAGE``);
* the time a decision takes when Redis is frozen, first and then.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from ..stats import Figure, Record
from ..util import ROOT

ANCHORS = ["django-ratelimit", "DRF throttle", "limits", "limits + stats"]


# -- the worker (a subprocess with its own Django settings) -------------------


def _configure(port: int) -> None:
    import django
    from django.conf import settings

    url = f"redis://127.0.0.1:{port}/0"
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "opskit"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES={
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": url,
                # django-redis' usual production setting; redis-py adds retries.
                "OPTIONS": {"SOCKET_TIMEOUT": 5, "SOCKET_CONNECT_TIMEOUT": 5},
            }
        },
        # Throughput figures with a patient timeout: on a shared, loaded
        # machine a 50 ms stall would open the breaker and make decisions
        # look free.  The hung-Redis case switches to the 50 ms default.
        OPSKIT={"RATELIMIT": {"CACHE": "default", "SOCKET_TIMEOUT": 1.0}},
        RATELIMIT_USE_CACHE="default",
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


def _variants(port: int) -> dict[str, Any]:
    """name -> a zero-argument callable making one admitted decision."""
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory
    from django_ratelimit.core import is_ratelimited
    from limits import RateLimitItemPerSecond
    from limits.storage import RedisStorage
    from limits.strategies import FixedWindowRateLimiter
    from rest_framework.throttling import AnonRateThrottle

    from opskit.ratelimit import Limiter

    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.7")
    request.user = AnonymousUser()
    single = Limiter("1000000/s", key="ip", scope="bench")
    multi = Limiter("1000000/s;100000000/h", key="ip", scope="bench-multi")

    class Throttle(AnonRateThrottle):
        rate = "1000000/s"

    throttle = Throttle()
    storage = RedisStorage(f"redis://127.0.0.1:{port}/0")
    limiter = FixedWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(1_000_000)

    def limits_stats() -> None:
        limiter.hit(item, "bench", "198.51.100.7")
        limiter.get_window_stats(item, "bench", "198.51.100.7")

    return {
        "opskit": lambda: single.decide(request),
        "opskit 2 limits": lambda: multi.decide(request),
        "django-ratelimit": lambda: is_ratelimited(
            request, group="bench", key="ip", rate="1000000/s", increment=True
        ),
        "DRF throttle": lambda: throttle.allow_request(request, None),
        "limits": lambda: limiter.hit(item, "bench", "198.51.100.7"),
        "limits + stats": limits_stats,
    }


def _round_trips(port: int, variants: dict[str, Any], n: int) -> dict[str, list[float]]:
    import redis

    out: dict[str, list[float]] = {}
    for name, fn in variants.items():
        fn()  # warm: scripts loaded, connections open
        mon_client = redis.Redis(port=port)
        seen: list[dict[str, Any]] = []
        ready = threading.Event()
        with mon_client.monitor() as m:

            def listen(
                m: Any = m, seen: list[dict[str, Any]] = seen, ready: threading.Event = ready
            ) -> None:
                ready.set()
                for cmd in m.listen():
                    seen.append(cmd)
                    if "opskit-bench-end" in cmd["command"]:
                        return

            t = threading.Thread(target=listen, daemon=True)
            t.start()
            ready.wait()
            time.sleep(0.05)
            redis.Redis(port=port).echo("opskit-bench-start")
            for _ in range(n):
                fn()
            redis.Redis(port=port).echo("opskit-bench-end")
            t.join(10)
        start = next(i for i, c in enumerate(seen) if "opskit-bench-start" in c["command"])
        body = [c for c in seen[start + 1 :] if "opskit-bench-end" not in c["command"]]
        trips = [c for c in body if c.get("client_type") != "lua"]
        out[name] = [len(trips) / n, len(body) / n]
    return out


def _latency(variants: dict[str, Any], n: int, port: int) -> dict[str, Any]:
    import redis

    ping = redis.Redis(port=port)
    fns = dict(variants, PING=ping.ping)
    res: dict[str, dict[str, float]] = {}
    for name, fn in fns.items():
        for _ in range(200):
            fn()
        samples = []
        c0 = time.process_time()
        for _ in range(n):
            t0 = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - t0)
        cpu = (time.process_time() - c0) / n * 1e6
        res[name] = {"p50": statistics.median(samples) / 1000, "cpu": cpu}
        if name.startswith("opskit"):
            outcome = fn().outcome
            if outcome != "allowed":
                raise RuntimeError(f"{name} decided {outcome!r}: the figures are not real")
    return res


def _async_latency(n: int, port: int) -> dict[str, Any]:
    """``adecide`` on redis.asyncio vs a redis.asyncio PING, same loop.

    The variants alternate in blocks of 250 calls, so a neighbour's load on
    the shared machine hits both alike instead of biasing whichever ran
    second.  "raw PING" is redis.asyncio's floor: one held connection,
    ``send_packed_command`` + ``read_response``, no client or pool around it.
    """
    import asyncio

    import redis.asyncio as aredis
    from django.test import RequestFactory

    from opskit.ratelimit import Limiter
    from opskit.ratelimit.core import get_backend

    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.8")
    limiter = Limiter("1000000/s", key="ip", scope="bench-async")
    block = 250

    async def measure() -> dict[str, Any]:
        client = aredis.Redis(port=port)
        raw = aredis.Connection(port=port)
        await raw.connect()

        async def raw_ping() -> Any:
            await raw.send_packed_command([b"*1\r\n$4\r\nPING\r\n"], False)
            return await raw.read_response()

        fns = {
            "opskit async": lambda: limiter.adecide(request),
            "PING": client.ping,
            "raw PING": raw_ping,
        }
        samples: dict[str, list[int]] = {name: [] for name in fns}
        cpu = dict.fromkeys(fns, 0.0)
        for fn in fns.values():
            for _ in range(200):
                await fn()
        for _ in range(max(1, n // block)):
            for name, fn in fns.items():
                out = samples[name]
                c0 = time.process_time()
                for _ in range(block):
                    t0 = time.perf_counter_ns()
                    await fn()
                    out.append(time.perf_counter_ns() - t0)
                cpu[name] += time.process_time() - c0
        res = {
            name: {
                "p50": statistics.median(values) / 1000,
                "cpu": cpu[name] / len(values) * 1e6,
            }
            for name, values in samples.items()
        }
        if (await limiter.adecide(request)).outcome != "allowed":
            raise RuntimeError("async decisions failed: the figures are not real")
        await raw.disconnect()
        await client.aclose()
        backend = get_backend()
        await backend.aclose()  # type: ignore[attr-defined]
        return res

    return asyncio.run(measure())


def _memory(port: int, variants: dict[str, Any]) -> dict[str, float]:
    import redis

    r = redis.Redis(port=port)
    out = {}
    for name, fn in variants.items():
        if name == "limits + stats":
            continue
        r.flushdb()  # our private server
        fn()
        keys = list(r.scan_iter(count=1000))
        # One client's whole state (every key it created).
        out[name] = float(sum(r.memory_usage(k) or 0 for k in keys))
    # The sliding log (strict) at N = 1,000: the price of exactness.
    from opskit.ratelimit import Limiter

    r.flushdb()
    strict = Limiter("1000/h", scope="strict", strict=True)
    for _ in range(1000):
        strict.decide("k")
    out["opskit strict, 1000 entries"] = float(sum(r.memory_usage(k) or 0 for k in r.scan_iter()))
    return out


def _hung(proc_pid: int, variants: dict[str, Any]) -> dict[str, Any]:
    """Decision time with Redis frozen: opskit first/then, django-ratelimit capped."""
    ours = variants["opskit"]
    anchor = variants["django-ratelimit"]
    ours()
    anchor()
    from django.conf import settings

    from opskit.conf import reload_settings

    settings.OPSKIT = {"RATELIMIT": {"CACHE": "default", "BREAKER_COOLDOWN": 60.0}}
    reload_settings()
    ours()
    os.kill(proc_pid, signal.SIGSTOP)
    res: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        ours()
        res["opskit first ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        for _ in range(1000):
            ours()
        res["opskit then ms"] = (time.perf_counter() - t0) / 1000 * 1000
        box: dict[str, Any] = {}

        def call() -> None:
            t = time.perf_counter()
            try:
                anchor()
                box["outcome"] = "answered"
            except Exception as exc:
                box["outcome"] = f"raised {type(exc).__name__} (a 500)"
            box["ms"] = (time.perf_counter() - t) * 1000

        th = threading.Thread(target=call, daemon=True)
        th.start()
        th.join(8.0)
        res["django-ratelimit ms"] = box.get("ms", 8000.0)
        res["django-ratelimit outcome"] = box.get("outcome", "still blocked after 8 s")
    finally:
        os.kill(proc_pid, signal.SIGCONT)
    return res


def worker(port: int, pid: int, quick: bool) -> dict[str, Any]:
    _configure(port)
    variants = _variants(port)
    n_rt, n_lat = (50, 1500) if quick else (200, 5000)
    return {
        "round_trips": _round_trips(port, variants, n_rt),
        "latency": _latency(variants, n_lat, port),
        "async": _async_latency(n_lat, port),
        "memory": _memory(port, variants),
        "hung": _hung(pid, variants),
    }


# -- the suite (in the bench runner's process) ---------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis() -> tuple[subprocess.Popen[bytes], int, str]:
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="opskit-bench-redis-")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, port, tmp
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("private redis-server did not start")


def run(quick: bool = False) -> list[Record]:
    repeats = 2 if quick else 3
    runs = []
    for _ in range(repeats):
        proc, port, tmp = _start_redis()
        try:
            out = subprocess.run(
                [sys.executable, "-m", "bench.suites.ratelimit", str(port), str(proc.pid)]
                + (["--quick"] if quick else []),
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        finally:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)
        if out.returncode != 0:
            raise RuntimeError(f"ratelimit bench worker failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return _records(runs)


def _fig(values: list[float]) -> Figure:
    return Figure.of(values)


def _records(runs: list[dict[str, Any]]) -> list[Record]:
    def col(section: str, name: str, field: str | int | None = None) -> list[float]:
        vals = []
        for r in runs:
            v = r[section][name]
            vals.append(float(v[field] if field is not None else v))
        return vals

    recs: list[Record] = []
    rt = "round_trips"
    ours_rt = max(col(rt, "opskit", 0) + col(rt, "opskit 2 limits", 0))
    recs.append(
        Record(
            suite="ratelimit",
            metric="Redis round trips per decision (headers data included)",
            unit="round trips",
            better="lower",
            opskit=_fig(col(rt, "opskit", 0)),
            anchors={a: _fig(col(rt, a, 0)) for a in ANCHORS}
            | {"opskit, 2 limits (10/s;1000/h shape)": _fig(col(rt, "opskit 2 limits", 0))},
            target="exactly 1, multiple limits included",
            verdict="met" if ours_rt == 1.0 else f"NOT met: {ours_rt}",
            notes="commands in Lua scripts are not round trips; commands per decision incl. "
            "script-internal: "
            + ", ".join(
                f"{n} {statistics.median(col(rt, n, 1)):.1f}"
                for n in ["opskit", "opskit 2 limits", *ANCHORS]
            ),
        )
    )
    lat = "latency"
    ping = col(lat, "PING", "p50")
    ours = col(lat, "opskit", "p50")
    over = [o - p for o, p in zip(ours, ping, strict=True)]
    recs.append(
        Record(
            suite="ratelimit",
            metric="Decision latency p50 (wall, admitted request)",
            unit="µs",
            better="lower",
            opskit=_fig(ours),
            anchors={a: _fig(col(lat, a, "p50")) for a in ANCHORS}
            | {"opskit, 2 limits": _fig(col(lat, "opskit 2 limits", "p50"))},
            baseline={"redis-py PING p50": _fig(ping)},
            target="≤ PING p50 + 30 µs",
            verdict=("met" if statistics.median(over) <= 30 else "NOT met")
            + f": PING + {statistics.median(over):.0f} µs",
        )
    )
    aping = col("async", "PING", "p50")
    aours = col("async", "opskit async", "p50")
    aover = statistics.median([o - p for o, p in zip(aours, aping, strict=True)])
    recs.append(
        Record(
            suite="ratelimit",
            metric="Async decision latency p50 (adecide on redis.asyncio)",
            unit="µs",
            better="lower",
            opskit=_fig(aours),
            baseline={
                "redis.asyncio PING p50": _fig(aping),
                "raw PING p50 (one held connection)": _fig(col("async", "raw PING", "p50")),
                "opskit async, client CPU": _fig(col("async", "opskit async", "cpu")),
            },
            target="≤ PING p50 + 30 µs",
            verdict=("met" if aover <= 30 else "NOT met") + f": PING + {aover:.0f} µs",
            notes="no anchor limits async views: django-ratelimit has no async support, "
            "DRF throttles are sync",
        )
    )
    ours_cpu = col(lat, "opskit", "cpu")
    dr_cpu = col(lat, "django-ratelimit", "cpu")
    ratio = statistics.median(ours_cpu) / statistics.median(dr_cpu)
    recs.append(
        Record(
            suite="ratelimit",
            metric="Client CPU per decision",
            unit="µs",
            better="lower",
            opskit=_fig(ours_cpu),
            anchors={a: _fig(col(lat, a, "cpu")) for a in ANCHORS},
            baseline={"redis-py PING": _fig(col(lat, "PING", "cpu"))},
            target="≤ 0.5x django-ratelimit",
            verdict=("met" if ratio <= 0.5 else "NOT met") + f": {ratio:.2f}x",
        )
    )
    mem = "memory"
    recs.append(
        Record(
            suite="ratelimit",
            metric="Redis memory per limited client and limit (MEMORY USAGE, all its keys)",
            unit="bytes",
            better="lower",
            opskit=_fig(col(mem, "opskit")),
            anchors={a: _fig(col(mem, a)) for a in ["django-ratelimit", "DRF throttle", "limits"]}
            | {"opskit strict, 1,000 entries": _fig(col(mem, "opskit strict, 1000 entries"))},
            target="≤ 128 bytes",
            verdict="met" if max(col(mem, "opskit")) <= 128 else "NOT met",
            notes="DRF keeps a pickled list of timestamps that grows with the limit",
        )
    )
    hung = "hung"
    outcome = runs[-1][hung]["django-ratelimit outcome"]
    recs.append(
        Record(
            suite="ratelimit",
            metric="Redis frozen (SIGSTOP): first decision",
            unit="ms",
            better="lower",
            opskit=_fig(col(hung, "opskit first ms")),
            anchors={
                "django-ratelimit (django-redis SOCKET_TIMEOUT 5 s)": _fig(
                    col(hung, "django-ratelimit ms")
                )
            },
            target="≈ 100 ms or less, no 500",
            verdict="met" if max(col(hung, "opskit first ms")) <= 100 else "NOT met",
            notes=f"opskit fails open; django-ratelimit {outcome} (capped at 8 s)",
        )
    )
    recs.append(
        Record(
            suite="ratelimit",
            metric="Redis frozen: each later decision (breaker open)",
            unit="ms",
            better="lower",
            opskit=_fig(col(hung, "opskit then ms")),
            target="≈ 0 ms",
            verdict="met" if max(col(hung, "opskit then ms")) < 0.1 else "NOT met",
        )
    )
    return recs


if __name__ == "__main__":
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    print(json.dumps(worker(int(sys.argv[1]), int(sys.argv[2]), "--quick" in sys.argv)))
