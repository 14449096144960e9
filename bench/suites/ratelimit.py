"""Rate limiting: opskit vs django-ratelimit, DRF throttling and ``limits``.

Everything runs against one private ``redis-server`` (free port, temp dir) and
a private 3-master Redis Cluster, in a worker subprocess with its own Django
settings, so the command counts are ours alone and the hung-Redis case can
freeze the server with SIGSTOP.  opskit runs with its shipped defaults.

Measured per decision (a counted, admitted request):
* Redis round trips (commands sent by the client, seen with ``MONITOR`` on
  every node; commands run inside a Lua script are not round trips), on the
  single server and on the Cluster (keys spread over every node);
* wall latency p50 and client CPU (``time.process_time``; the Redis server
  is another process), against django-ratelimit on the same server in the
  same run, with a redis-py ``PING`` as the floor;
* Redis memory per key (``MEMORY USAGE``);
* the time a decision takes when Redis is frozen: the first ones (at most
  the timeout each, until the breaker opens) and then.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from ..stats import Figure, Record
from ..util import ROOT, ratio_verdict

ANCHORS = ["django-ratelimit", "DRF throttle", "limits", "limits + stats"]


# -- the worker (a subprocess with its own Django settings) -------------------


def _configure(port: int, cluster: list[tuple[str, int]]) -> None:
    import django
    from django.conf import settings

    url = f"redis://127.0.0.1:{port}/0"
    caches: dict[str, Any] = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            # django-redis' usual production setting; redis-py adds retries.
            "OPTIONS": {"SOCKET_TIMEOUT": 5, "SOCKET_CONNECT_TIMEOUT": 5},
        }
    }
    if cluster:
        caches["cluster"] = {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": [f"redis://{h}:{p}/0" for h, p in cluster],
        }
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench",
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "opskit"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        CACHES=caches,
        # The shipped defaults (timeout, breaker): the figures are what a
        # project gets.
        OPSKIT={"RATELIMIT": {"CACHE": "default"}},
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


def _commands(ports: list[int], fn: Any, n: int) -> tuple[float, float]:
    """(round trips, commands incl. script-internal) per call of ``fn``, via ``MONITOR``
    on every node in ``ports``."""
    import redis

    seen: list[dict[str, Any]] = []
    lock = threading.Lock()
    threads = []
    monitors = []
    for port in ports:
        m = redis.Redis(port=port).monitor()
        m.__enter__()  # sends MONITOR
        monitors.append(m)
        ready = threading.Event()

        def listen(m: Any = m, ready: threading.Event = ready) -> None:
            ready.set()
            started = False
            for cmd in m.listen():
                if "opskit-bench-start" in cmd["command"]:
                    started = True
                elif "opskit-bench-end" in cmd["command"]:
                    return
                elif started:
                    with lock:
                        seen.append(cmd)

        t = threading.Thread(target=listen, daemon=True)
        t.start()
        ready.wait()
        threads.append(t)
    time.sleep(0.05)
    for port in ports:
        redis.Redis(port=port).echo("opskit-bench-start")
    for _ in range(n):
        fn()
    for port in ports:
        redis.Redis(port=port).echo("opskit-bench-end")
    for t in threads:
        t.join(10)
    for m in monitors:
        m.__exit__(None, None, None)
    trips = [c for c in seen if c.get("client_type") != "lua"]
    return len(trips) / n, len(seen) / n


def _round_trips(port: int, variants: dict[str, Any], n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, fn in variants.items():
        fn()  # warm: scripts loaded, connections open
        out[name] = list(_commands([port], fn, n))
    return out


def _cluster_round_trips(cluster: list[tuple[str, int]], n: int) -> dict[str, list[float]]:
    """opskit's decisions on the Cluster, each on a new key (so on every node)."""
    import itertools

    from django.conf import settings

    from opskit.conf import reload_settings
    from opskit.ratelimit import Limiter

    saved = settings.OPSKIT
    settings.OPSKIT = {"RATELIMIT": {"CACHE": "cluster", "TOPOLOGY": "cluster"}}
    reload_settings()
    try:
        out: dict[str, list[float]] = {}
        for name, rate in (("opskit", "1000000/s"), ("opskit 2 limits", "1000000/s;100000000/h")):
            limiter = Limiter(rate, key="ip", scope=f"bench-cluster-{name}")
            keys = itertools.count()

            def decide(limiter: Any = limiter, keys: Any = keys) -> None:
                if limiter.decide(f"198.51.100.{next(keys)}").outcome != "allowed":
                    raise RuntimeError("a Cluster decision failed: the figures are not real")

            for _ in range(60):  # every node: connection open, script loaded
                decide()
            out[name] = list(_commands([p for _, p in cluster], decide, n))
        return out
    finally:
        settings.OPSKIT = saved
        reload_settings()


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
    """Decision time with Redis frozen: opskit's first decisions (each at most the
    timeout, until the breaker opens) and the ones after; django-ratelimit capped."""
    ours = variants["opskit"]
    anchor = variants["django-ratelimit"]
    ours()
    anchor()
    from django.conf import settings

    from opskit.conf import get_settings, reload_settings

    settings.OPSKIT = {"RATELIMIT": {"CACHE": "default", "BREAKER_COOLDOWN": 60.0}}
    reload_settings()
    rl = get_settings().RATELIMIT
    ours()
    os.kill(proc_pid, signal.SIGSTOP)
    res: dict[str, Any] = {"timeout ms": rl.SOCKET_TIMEOUT * 1000}
    try:
        slow = []
        for _ in range(rl.BREAKER_THRESHOLD + 2):
            t0 = time.perf_counter()
            decision = ours()
            slow.append((time.perf_counter() - t0) * 1000)
            if decision.outcome != "error":
                raise RuntimeError(f"decided {decision.outcome!r} with Redis frozen")
        res["opskit first ms"] = max(slow)
        res["opskit slow decisions"] = float(sum(1 for ms in slow if ms > rl.SOCKET_TIMEOUT * 500))
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


def worker(port: int, pid: int, quick: bool, cluster: list[tuple[str, int]]) -> dict[str, Any]:
    _configure(port, cluster)
    variants = _variants(port)
    n_rt, n_lat = (50, 1500) if quick else (200, 5000)
    return {
        "round_trips": _round_trips(port, variants, n_rt),
        "cluster_round_trips": _cluster_round_trips(cluster, n_rt),
        "latency": _latency(variants, n_lat, port),
        "async": _async_latency(n_lat, port),
        "memory": _memory(port, variants),
        "hung": _hung(pid, variants),
    }


# -- the suite (in the bench runner's process) ---------------------------------


def run(quick: bool = False) -> list[Record]:
    from tests.support.redis_topology import RedisCluster, RedisServer

    repeats = 2 if quick else 3
    runs = []
    with RedisCluster(masters=3) as cluster:
        nodes = ",".join(f"{h}:{p}" for h, p in cluster.nodes)
        for _ in range(repeats):
            with RedisServer() as server:
                assert server.proc is not None
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bench.suites.ratelimit",
                        str(server.port),
                        str(server.proc.pid),
                        nodes,
                    ]
                    + (["--quick"] if quick else []),
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=300,
                )
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
    crt = "cluster_round_trips"
    ours_rt = max(
        col(rt, "opskit", 0)
        + col(rt, "opskit 2 limits", 0)
        + col(crt, "opskit", 0)
        + col(crt, "opskit 2 limits", 0)
    )
    recs.append(
        Record(
            suite="ratelimit",
            metric="Redis round trips per decision (headers data included)",
            unit="round trips",
            better="lower",
            opskit=_fig(col(rt, "opskit", 0)),
            anchors={a: _fig(col(rt, a, 0)) for a in ANCHORS}
            | {
                "opskit, 2 limits (10/s;1000/h shape)": _fig(col(rt, "opskit 2 limits", 0)),
                "opskit on a 3-master Cluster": _fig(col(crt, "opskit", 0)),
                "opskit on a 3-master Cluster, 2 limits": _fig(col(crt, "opskit 2 limits", 0)),
            },
            target="exactly 1, multiple limits and Cluster included",
            verdict="met" if ours_rt == 1.0 else f"NOT met: {ours_rt}",
            notes="MONITOR on every node; commands in Lua scripts are not round trips; "
            "on the Cluster each decision has a new key (every node); commands per decision "
            "incl. script-internal: "
            + ", ".join(
                f"{n} {statistics.median(col(rt, n, 1)):.1f}"
                for n in ["opskit", "opskit 2 limits", *ANCHORS]
            ),
        )
    )
    lat = "latency"
    ours = col(lat, "opskit", "p50")
    dr = col(lat, "django-ratelimit", "p50")
    recs.append(
        Record(
            suite="ratelimit",
            metric="Decision latency p50 (wall, admitted request)",
            unit="µs",
            better="lower",
            opskit=_fig(ours),
            anchors={a: _fig(col(lat, a, "p50")) for a in ANCHORS}
            | {"opskit, 2 limits": _fig(col(lat, "opskit 2 limits", "p50"))},
            baseline={"redis-py PING p50": _fig(col(lat, "PING", "p50"))},
            target="≤ 0.5x django-ratelimit",
            verdict=ratio_verdict(statistics.median(ours), statistics.median(dr), 0.5),
        )
    )
    recs.append(
        Record(
            suite="ratelimit",
            metric="Async decision latency p50 (adecide on redis.asyncio, long-lived loop)",
            unit="µs",
            better="lower",
            opskit=_fig(col("async", "opskit async", "p50")),
            baseline={
                "redis.asyncio PING p50": _fig(col("async", "PING", "p50")),
                "raw PING p50 (one held connection)": _fig(col("async", "raw PING", "p50")),
                "opskit async, client CPU": _fig(col("async", "opskit async", "cpu")),
            },
            notes="no anchor limits async views: django-ratelimit has no async support, "
            "DRF throttles are sync",
        )
    )
    ours_cpu = col(lat, "opskit", "cpu")
    dr_cpu = col(lat, "django-ratelimit", "cpu")
    recs.append(
        Record(
            suite="ratelimit",
            metric="Client CPU per decision",
            unit="µs",
            better="lower",
            opskit=_fig(ours_cpu),
            anchors={a: _fig(col(lat, a, "cpu")) for a in ANCHORS}
            | {"opskit, 2 limits": _fig(col(lat, "opskit 2 limits", "cpu"))},
            baseline={"redis-py PING": _fig(col(lat, "PING", "cpu"))},
            target="≤ 0.5x django-ratelimit",
            verdict=ratio_verdict(statistics.median(ours_cpu), statistics.median(dr_cpu), 0.5),
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
    timeout_ms = max(col(hung, "timeout ms"))
    slow = max(col(hung, "opskit slow decisions"))
    recs.append(
        Record(
            suite="ratelimit",
            metric="Redis frozen (SIGSTOP): slowest of the first decisions",
            unit="ms",
            better="lower",
            opskit=_fig(col(hung, "opskit first ms")),
            anchors={
                "django-ratelimit (django-redis SOCKET_TIMEOUT 5 s)": _fig(
                    col(hung, "django-ratelimit ms")
                )
            },
            target=f"≤ SOCKET_TIMEOUT ({timeout_ms:g} ms) + 50 ms, no 500",
            verdict="met" if max(col(hung, "opskit first ms")) <= timeout_ms + 50 else "NOT met",
            notes=f"opskit fails open; {slow:g} decisions waited for the timeout before the "
            f"breaker opened (BREAKER_THRESHOLD); django-ratelimit {outcome} (capped at 8 s)",
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
    nodes = [(h, int(p)) for h, _, p in (n.rpartition(":") for n in sys.argv[3].split(","))]
    print(json.dumps(worker(int(sys.argv[1]), int(sys.argv[2]), "--quick" in sys.argv, nodes)))
