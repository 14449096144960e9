"""Scenario 6 (issue 14): the rate limiter in every server model, on one Redis and a Cluster.

The cells: {gunicorn 4 sync workers with a sync view, the same with an async
view (Django runs it in a new event loop per request), gunicorn gthread 2
workers x 4 threads, uvicorn 2 workers with an async view} x {a single
redis-server, a 3-master Redis Cluster}.  Each server model gets a server and
a Redis deployment of its own (the gunicorn sync server serves its two views
one after the other), so Redis's ``connected_clients`` (our own measuring
connection subtracted) is that server's:

1. a flood: 8 client processes x 100 attempts on one fresh key, limit 100
   per hour (one token back per 36 s, none during a flood of seconds): the
   quota is admitted exactly, everything else is a 429, nothing fails;
2. 5,000 further requests, each on a fresh key: each is admitted (at most
   ``MISSES`` fail open on a decision that missed its deadline, each counted,
   and the breaker never opens); ``connected_clients`` stays within the
   server's concurrency (workers x threads) plus a small constant, and again
   after 30 s idle.  On a Cluster the bound holds on each node: a
   cluster client keeps a connection per node it sends to, and fresh keys
   reach every node.

Scenario 7 (in the same test, while the matrix's servers sit out their 30 s
idle) floods another server beside 4 CPU-burning processes per core: exact
in 20 of 20 runs (a limiter whose timeout or breaker a busy host trips fails
open and admits more).

The servers are loaded at the same time, each by 8 client processes of its
own: this module run as a script (``python -m``), so the load is not one
interpreter's threads behind one GIL.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import http.client
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest

from ..support.redis_topology import RedisCluster
from . import client
from .stack import ROOT, Gunicorn, PrivateRedis, Uvicorn

pytestmark = pytest.mark.rehearsal

#: The quota of /rehearsal/matrix/*/ (``urls.MATRIX_LIMIT``), per hour.
LIMIT = 100
PERIOD = 3600.0
CLIENTS = 8
ATTEMPTS = 100
FURTHER = 5000
PER_CLIENT = FURTHER // CLIENTS
IDLE = 30.0
#: Connections allowed beyond workers x threads: a worker may hold one more
#: for its cache alias or a health probe.
SLACK = 4
BUSY_RUNS = 20
BUSY_ATTEMPTS = 25  # per client process: 200 requests a run
BURNERS_PER_CORE = 4
#: Fresh-key requests (of 5,000 per cell) whose decision may miss its deadline
#: and fail open, one at a time: the CI's 2 cores, loaded by every cell's
#: servers, Redis deployments and 40 client processes at once, once left a
#: uvicorn worker without a Cluster node's reply for the timeout (0.5 s), 1 of
#: 5,000.  No key is over its quota here, so a miss admits nothing a limit
#: would refuse; it is counted and reported, and the breaker must stay shut.
#: The floods (one key over its quota) allow none.
MISSES = 5
MISS = "200 error (TimeoutError)"
#: Requests per client connection (keep-alive where the server allows it).
RECONNECT = 25

#: server model -> (server class, workers, extra options, threads per worker,
#: views).  One gunicorn sync server per topology serves both views in turn
#: (its cells share the server and the Redis; the second cell's count holds
#: both views' connections).
MODELS: dict[str, tuple[type[Gunicorn], int, tuple[str, ...], int, tuple[str, ...]]] = {
    "gunicorn sync x4": (Gunicorn, 4, (), 1, ("sync", "async")),
    "gunicorn gthread 2x4": (
        Gunicorn,
        2,
        ("--worker-class", "gthread", "--threads", "4"),
        4,
        ("sync",),
    ),
    "uvicorn x2": (Uvicorn, 2, (), 1, ("async",)),
}
TOPOLOGIES = ("single", "cluster")


# -- Redis deployments ------------------------------------------------------------


class Single:
    """One private redis-server."""

    name = "single"

    def __init__(self) -> None:
        self.server = PrivateRedis()

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    @property
    def ports(self) -> list[int]:
        return [self.server.port]

    def env(self) -> dict[str, str]:
        return {"REHEARSAL_REDIS_URL": self.server.url}


class Cluster:
    """A private 3-master Redis Cluster (``tests/support/redis_topology.py``)."""

    name = "cluster"

    def __init__(self) -> None:
        self.cluster = RedisCluster(masters=3)

    def start(self) -> None:
        self.cluster.start()

    def stop(self) -> None:
        self.cluster.stop()

    @property
    def ports(self) -> list[int]:
        return [port for _, port in self.cluster.nodes]

    def env(self) -> dict[str, str]:
        return {
            # The cache alias keeps a node of its own (nothing in the matrix uses it).
            "REHEARSAL_REDIS_URL": self.cluster.url,
            "REHEARSAL_REDIS_CLUSTER": ",".join(s.url for s in self.cluster.servers),
        }


def connected_clients(ports: list[int]) -> list[int]:
    """Redis's ``connected_clients`` of each node, our own connection excluded."""
    import redis

    out = []
    for port in ports:
        r = redis.Redis(port=port, socket_timeout=5)
        try:
            out.append(int(r.info("clients")["connected_clients"]) - 1)
        finally:
            r.close()
    return out


def show(per_node: list[int]) -> str:
    """``4`` for one node, ``12 (4+4+4)`` summed over a cluster's."""
    total = str(sum(per_node))
    return total if len(per_node) == 1 else f"{total} ({'+'.join(map(str, per_node))})"


# -- the servers ----------------------------------------------------------------


@dataclass
class Cell:
    model: str
    topology: str
    server: Gunicorn
    redis: Any
    view: str
    slots: int  #: workers x threads
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/rehearsal/matrix/{self.view}/"

    @property
    def bound(self) -> int:
        return self.slots + SLACK

    @property
    def label(self) -> str:
        return f"{self.model}, {self.topology} Redis"


def server_env(base: dict[str, str], redis: Any, metrics_dir: str) -> dict[str, str]:
    env = dict(base)
    env.update(redis.env())
    env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    return env


@contextlib.contextmanager
def servers(base_env: dict[str, str], plan: list[tuple[str, str]]) -> Iterator[list[Cell]]:
    """Start a Redis deployment and a server per (model, topology), all in parallel."""
    deployments: dict[str, type[Single | Cluster]] = {"single": Single, "cluster": Cluster}
    with contextlib.ExitStack() as cleanup:
        cells = []
        for model, topology in plan:
            cls, workers, extra, threads, views = MODELS[model]
            redis = deployments[topology]()
            cleanup.callback(redis.stop)
            metrics = tempfile.mkdtemp(prefix="opskit-rehearsal-metrics-")
            cleanup.callback(shutil.rmtree, metrics, True)
            server = cls(server_env(base_env, redis, metrics), workers=workers, extra=extra)
            if not os.environ.get("OPSKIT_REHEARSAL_KEEP_LOGS"):
                cleanup.callback(server.cleanup)
            cleanup.callback(server.stop)
            cells += [
                Cell(f"{model}, {v} view", topology, server, redis, v, workers * threads)
                for v in views
            ]
        once = list({id(c.server): c for c in cells}.values())
        with concurrent.futures.ThreadPoolExecutor(len(once)) as pool:
            list(pool.map(lambda c: c.redis.start(), once))
            list(pool.map(lambda c: c.server.start(), once))
        yield cells


# -- the load: client processes ----------------------------------------------------


@dataclass
class Load:
    """What one batch of client processes got back."""

    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    pids: set[int] = field(default_factory=set)
    seconds: float = 0.0

    @property
    def admitted(self) -> int:
        return self.answers["200 allowed"]

    @property
    def limited(self) -> int:
        return self.answers["429"]

    @property
    def failed(self) -> dict[str, int]:
        """Every answer that is neither a decided 200 nor a 429."""
        return {k: n for k, n in self.answers.items() if k not in ("200 allowed", "429")}

    def __str__(self) -> str:
        failed = sum(self.failed.values())
        detail = f" {self.failed}" if failed else ""
        return f"{self.admitted} admitted, {self.limited} limited, {failed} failed{detail}"


class Clients:
    """Client processes (this module run as a script), started once.

    Each job line goes to every process at once and each answers one JSON
    line, so a batch starts together without a process start per batch.
    """

    def __init__(self) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.rehearsal.test_6_ratelimit_matrix", str(i)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(CLIENTS)
        ]
        for p in self.procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def fire(self, port: int, path: str, attempts: int, key: str | None) -> Load:
        """``attempts`` requests from each process.

        ``key``: every request from that client address (one fresh key); None:
        each request from an address of its own (every decision on a new key).
        """
        job = json.dumps([port, path, attempts, key]) + "\n"
        out = Load()
        t0 = time.monotonic()
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(job)
            p.stdin.flush()
        for p in self.procs:
            assert p.stdout is not None
            got = json.loads(p.stdout.readline())
            out.answers.update(got["answers"])
            out.pids.update(got["pids"])
        out.seconds = time.monotonic() - t0
        return out

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError):
                assert p.stdin is not None
                p.stdin.close()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            if p.stdout is not None:
                p.stdout.close()


def _client_main(me: int) -> None:
    """One client process: for each job line, send its requests, print the tally.

    Keep-alive where the server allows it (gunicorn's sync workers close
    every connection), a new connection every ``RECONNECT`` requests so a
    batch spreads over the workers.
    """
    print("ready", flush=True)
    for line in sys.stdin:
        port, path, attempts, key = json.loads(line)
        answers: collections.Counter[str] = collections.Counter()
        pids: set[int] = set()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        for i in range(attempts):
            if i % RECONNECT == 0:
                conn.close()
            addr = key or f"10.{me}.{i // 250}.{i % 250 + 1}"
            try:
                r = client.request(port, "GET", path, {"X-Forwarded-For": addr}, conn=conn)
            except (OSError, http.client.HTTPException) as exc:
                answers[f"transport {type(exc).__name__}"] += 1
                conn.close()
                continue
            if r.status == 429:
                answers["429"] += 1
                continue
            try:
                body = json.loads(r.body)
            except ValueError:
                body = {}
            if "pid" in body:
                pids.add(int(body["pid"]))
            outcome = body.get("outcome")
            error = f" ({body.get('error')})" if outcome == "error" else ""
            answers[f"{r.status} {outcome}{error}"] += 1
        conn.close()
        print(json.dumps({"answers": answers, "pids": sorted(pids)}), flush=True)


@contextlib.contextmanager
def burners(n: int) -> Iterator[list[float]]:
    """``n`` processes spinning on the CPU (the busy host); yields a list that
    holds the CPU seconds they used once they are gone."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    used: list[float] = []
    try:
        yield used
    finally:
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = psutil.Process(p.pid).cpu_times()
                used.append(t.user + t.system)
            p.kill()
        for p in procs:
            p.wait(10)


def children_cpu() -> float:
    """CPU seconds of every finished descendant (servers, Redis, clients, burners)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def allowed_refill(seconds: float) -> int:
    """Tokens a 100/h limit earns back while a flood of ``seconds`` lasts."""
    return math.floor(seconds / (PERIOD / LIMIT))


# -- scenarios 6 and 7 -------------------------------------------------------------


def load_cells(clients: Clients, cells: list[tuple[int, Cell]]) -> None:
    """Flood, further requests and connection counts for one server's cells."""
    for n, cell in cells:
        f = cell.figures
        f["workers"] = cell.server.worker_pids()
        f["clients at start"] = connected_clients(cell.redis.ports)
        err_since, log_since = cell.server.err_size(), cell.server.log_size()
        f["flood"] = clients.fire(cell.server.port, cell.path, ATTEMPTS, f"198.18.{n}.1")
        f["further"] = clients.fire(cell.server.port, cell.path, PER_CLIENT, None)
        f["clients after load"] = connected_clients(cell.redis.ports)
        f["loaded at"] = time.monotonic()
        f["stderr"] = cell.server.errors(err_since)
        # Why a decision failed (the limiter says so once a minute per kind).
        f["limiter said"] = [
            f"{r.get('event')}: {r.get('message')}"
            for r in cell.server.records(log_since)
            if str(r.get("event", "")).startswith(("ratelimit.decision", "ratelimit.backend"))
        ]


def test_ratelimit_matrix(stack: Any, scenario: dict[str, Any]) -> None:
    """Scenario 6, and scenario 7 while the matrix's servers idle."""
    plan = [(m, t) for t in TOPOLOGIES for m in MODELS]
    busy_model = "gunicorn sync x4"
    t_start = time.monotonic()
    cpu_start = children_cpu()
    with contextlib.ExitStack() as cleanup:
        cells = cleanup.enter_context(servers(stack.gunicorn.env, [*plan, (busy_model, "single")]))
        busy = cells.pop()  # its sync and async views: one server
        cells.pop()
        # Each server gets client processes of its own and is loaded beside
        # the others (a server that waits on thread hops leaves the CPU to
        # the rest); its cells (views) one after the other.
        by_server: dict[int, list[tuple[int, Cell]]] = {}
        for n, cell in enumerate(cells):
            by_server.setdefault(id(cell.server), []).append((n, cell))
        pools = []
        for _ in by_server:
            pools.append(Clients())
            cleanup.callback(pools[-1].close)
        started = time.monotonic() - t_start
        with concurrent.futures.ThreadPoolExecutor(len(pools)) as pool:
            list(pool.map(load_cells, pools, by_server.values()))
        loaded = time.monotonic() - t_start - started
        clients = pools[0]

        # Scenario 7 on a server of its own while the matrix's servers idle.
        t_busy = time.monotonic()
        n_burners = BURNERS_PER_CORE * (os.cpu_count() or 1)
        busy_err, busy_log = busy.server.err_size(), busy.server.log_size()
        runs: list[tuple[str, Load]] = []
        with burners(n_burners) as burned:
            time.sleep(1.0)  # let them reach the run queue
            for run in range(BUSY_RUNS):
                path = ("/rehearsal/matrix/sync/", "/rehearsal/matrix/async/")[run % 2]
                load = clients.fire(busy.server.port, path, BUSY_ATTEMPTS, f"198.19.{run}.1")
                runs.append((path, load))
            load_avg = os.getloadavg()[0]
        busy_seconds = time.monotonic() - t_busy
        backend_down = sum(
            1
            for r in busy.server.records(busy_log)
            if str(r.get("event", "")).startswith("ratelimit.backend")
        )
        busy_stderr = busy.server.errors(busy_err)

        last = max(cell.figures["loaded at"] for cell in cells)
        time.sleep(max(0.0, last + IDLE - time.monotonic()))
        for cell in cells:
            cell.figures["clients after idle"] = connected_clients(cell.redis.ports)
            cell.figures["idle seconds"] = time.monotonic() - cell.figures["loaded at"]

    # -- report first -------------------------------------------------------
    counts = scenario["counts"]
    counts["servers started in (s)"] = round(started, 1)
    counts["matrix floods and further requests (s)"] = round(loaded, 1)
    counts["busy host runs (s)"] = round(busy_seconds, 1)
    counts["whole scenario (s)"] = round(time.monotonic() - t_start, 1)
    counts["CPU seconds of servers, Redis and clients (burners excluded)"] = round(
        children_cpu() - cpu_start - sum(burned), 1
    )
    counts["load average (1 min) at the end"] = round(os.getloadavg()[0], 1)
    for cell in cells:
        f = cell.figures
        flood, further = f["flood"], f["further"]
        if f["limiter said"]:
            counts[f"{cell.label}: the limiter logged"] = "; ".join(f["limiter said"])[:600]
        counts[f"{cell.label}: flood"] = (
            f"{flood} (limit {LIMIT} + refill {allowed_refill(flood.seconds)}, "
            f"{flood.seconds:.1f} s)"
        )
        counts[
            f"{cell.label}: connected_clients start / after {PER_CLIENT * CLIENTS} more / after idle"
        ] = (
            f"{show(f['clients at start'])} / {show(f['clients after load'])} / "
            f"{show(f['clients after idle'])} (bound {cell.slots} + {SLACK} per node; {further} in {further.seconds:.1f} s by "
            f"{len(further.pids)} of {len(f['workers'])} workers; idle {f['idle seconds']:.0f} s)"
        )
    exact = [load.admitted == LIMIT and not load.failed for _, load in runs]
    counts[f"busy host: exact runs (gunicorn sync x4, {n_burners} burners)"] = (
        f"{sum(exact)} of {len(runs)} (load average {load_avg:.1f} at the end; "
        f"limiter backend failures logged: {backend_down})"
    )
    for view in ("sync", "async"):
        mine = [load for path, load in runs if f"/{view}/" in path]
        counts[f"busy host: {view} view, admitted per run"] = ", ".join(
            str(load.admitted) for load in mine
        ) + (f" (slowest run {max(load.seconds for load in mine):.1f} s)" if mine else "")
    scenario["notes"] += [
        f"Matrix: each server model has its own server and Redis deployment per "
        f"topology, and its own {CLIENTS} client processes; the servers are loaded at the "
        f"same time, a server's views one after the other. A flood is {CLIENTS} client processes x {ATTEMPTS} attempts from one "
        f"client address, limit {LIMIT}/h; then {PER_CLIENT * CLIENTS} requests "
        f"from {CLIENTS} processes, each from a new address. connected_clients "
        f"excludes the measuring connection; bound = workers x threads + {SLACK}, on each "
        f"node of a Cluster (a cluster client holds a connection per node it sends to, "
        f"and fresh keys reach every node).",
        f"Busy host: {BUSY_RUNS} floods of {CLIENTS} x {BUSY_ATTEMPTS} requests, each on a "
        f"fresh key, sync and async views in turn, beside {BURNERS_PER_CORE} CPU-burning "
        f"processes per core, while the matrix's servers idle.",
    ]

    # -- then assert --------------------------------------------------------
    problems = []
    for cell in cells:
        f = cell.figures
        flood, further = f["flood"], f["further"]
        said = f["limiter said"]
        if flood.failed:
            problems.append(f"{cell.label}: failed answers in the flood {flood.failed}; {said}")
        misses = further.failed.get(MISS, 0)
        if set(further.failed) - {MISS} or misses > MISSES:
            problems.append(f"{cell.label}: failed answers {further.failed}; {said}")
        if any(line.startswith("ratelimit.backend_down") for line in said):
            problems.append(f"{cell.label}: the breaker opened on a live Redis; {said}")
        if not LIMIT <= flood.admitted <= LIMIT + allowed_refill(flood.seconds):
            problems.append(f"{cell.label}: admitted {flood.admitted} for a limit of {LIMIT}")
        if flood.admitted + flood.limited != CLIENTS * ATTEMPTS:
            problems.append(f"{cell.label}: flood answers {dict(flood.answers)}")
        if further.admitted + misses != PER_CLIENT * CLIENTS:
            problems.append(f"{cell.label}: further requests {dict(further.answers)}")
        if len(further.pids) < len(f["workers"]):
            problems.append(f"{cell.label}: only workers {further.pids} of {f['workers']} served")
        for when in ("after load", "after idle"):
            if max(f[f"clients {when}"]) > cell.bound:
                problems.append(
                    f"{cell.label}: {show(f[f'clients {when}'])} Redis clients {when} "
                    f"(bound {cell.bound} per node)"
                )
        if "Traceback" in f["stderr"] or "WORKER TIMEOUT" in f["stderr"]:
            problems.append(f"{cell.label}: server stderr: {f['stderr'][-600:]}")
    if not all(exact):
        problems.append(
            "busy host: "
            + "; ".join(f"run {i} {p}: {load}" for i, (p, load) in enumerate(runs) if not exact[i])
        )
    if "Traceback" in busy_stderr or "WORKER TIMEOUT" in busy_stderr:
        problems.append(f"busy host: server stderr: {busy_stderr[-600:]}")
    assert not problems, "\n".join(problems)


if __name__ == "__main__":
    _client_main(int(sys.argv[1]))
