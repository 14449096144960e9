"""Health probes: opskit vs django-health-check and django-watchman, same
machine, same run.

* CPU per healthy probe in-process (Django's WSGI handler, SQLite/LocMem).
* Healthy readiness throughput under gunicorn (2 sync workers, wrk on
  loopback, bounded in time), each package checking PostgreSQL and Redis;
  baselines: a no-op view on bare Django and a bare WSGI callable (the
  server's ceiling); django-watchman also as installed by default.
* New PostgreSQL sessions per probe (``pg_stat_database.sessions`` of a
  database created for this run), all projects with ``CONN_MAX_AGE = 60``.
* With a database alias pointing at a listener that accepts and never
  answers: the answer time of two concurrent probes, of the probes after them,
  and of an app request sent while they wait (gunicorn ``--timeout`` caps
  the anchors; gunicorn's default is 30 s, here 20 s in full mode and 10 s
  with ``--quick`` to keep the suite short).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..servers import server, wrk
from ..stats import Figure, Record
from ..util import ROOT, inproc

PROBES = {
    "opskit": "/readyz",
    "health_check": "/ht/?format=json",
    "watchman": "/watchman/",
}
ANCHOR_LABEL = {"health_check": "django-health-check", "watchman": "django-watchman"}
#: Throughput context only (not in the verdict): django-watchman as installed
#: by the book (default checks incl. storage, CONN_MAX_AGE = 0).
EXTRA = {"watchman_defaults": "django-watchman, defaults"}
DEADLINE = 0.9  # opskit's default
#: Baselines: a no-op Django view, and a bare WSGI callable (gunicorn's ceiling).
BASELINES = ["noop", "static"]
_APPS = {"static": "bench.healthproj.static_wsgi:application"}
#: MEDIA_ROOT of the projects (django-watchman's storage check writes there).
_MEDIA = ""


class _HungListener:
    """Accepts connections and never answers (a hung database)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        for s in [self.sock, *self.held]:
            with contextlib.suppress(OSError):
                s.close()


def _path(variant: str) -> str:
    if variant == "watchman_defaults":
        return PROBES["watchman"]
    return PROBES.get(variant, "/noop")


def _pg_admin() -> Any:
    import psycopg

    u = urlparse(os.environ.get("OPSKIT_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/"))
    return psycopg.connect(
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password or "",
        dbname=(u.path or "/postgres").lstrip("/") or "postgres",
        autocommit=True,
    )


def _sessions(admin: Any, db: str) -> int:
    time.sleep(1.2)  # backends flush their statistics about once a second
    row = admin.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [db]).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@contextlib.contextmanager
def _server(
    variant: str, db: str, hung_port: int | None = None, timeout: int = 30
) -> Iterator[int]:
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.healthproj.settings",
        "BENCH_HEALTH_VARIANT": variant,
        "BENCH_HEALTH_DB": db,
        "PYTHONPATH": str(ROOT),
        "BENCH_HEALTH_MEDIA": _MEDIA,
    }
    if hung_port:
        env["BENCH_HEALTH_HUNG_PORT"] = str(hung_port)
    argv = [
        *(sys.executable, "-m", "gunicorn", "-w", "2", "-k", "sync"),
        *("-b", "127.0.0.1:{port}", "--timeout", str(timeout), "--graceful-timeout", "1"),
        *("--log-level", "critical", _APPS.get(variant, "bench.healthproj.wsgi:application")),
    ]
    with (
        tempfile.TemporaryDirectory(prefix="opskit-bench-health-") as tmp,
        server(
            variant,
            argv,
            env,
            Path(tmp),
            workers=2,
            ready_path="/noop",
            # A Django project says which worker answered; the static callable cannot.
            warm_path=None if variant in _APPS else "/pid",
        ) as srv,
    ):
        yield srv.port


def _get(port: int, path: str, timeout: float) -> tuple[int, float]:
    """(status, seconds); status 0 when the server dropped the connection."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
        status = 0
    except TimeoutError:
        status = -1
    finally:
        conn.close()
    return status, time.monotonic() - t0


def _healthy(db: str, quick: bool) -> dict[str, Any]:
    rounds, seconds = (1, 2) if quick else (3, 2)
    admin = _pg_admin()
    rps: dict[str, list[float]] = {v: [] for v in [*PROBES, *EXTRA, *BASELINES]}
    per_probe: dict[str, list[float]] = {v: [] for v in PROBES}
    with contextlib.ExitStack() as stack:
        ports = {v: stack.enter_context(_server(v, db)) for v in rps}
        for variant, port in ports.items():  # warm up: connections, imports
            for _ in range(20):
                _get(port, _path(variant), 10)
        order = list(ports)
        for round_ in range(rounds):
            # Rotate the order so no variant always runs first (drift).
            for variant in order[round_ % len(order) :] + order[: round_ % len(order)]:
                port = ports[variant]
                path = _path(variant)
                count = variant in PROBES and round_ == 0  # sessions: first round only
                before = _sessions(admin, db) if count else 0
                load = wrk(port, path, seconds, connections=4)
                r, total = load.rps, load.requests
                rps[variant].append(r)
                if count:
                    per_probe[variant].append((_sessions(admin, db) - before) / max(total, 1))
    admin.close()
    return {"rps": rps, "sessions": per_probe}


def _hung(db: str, quick: bool) -> dict[str, dict[str, list[float]]]:
    timeout = 10 if quick else 20
    out: dict[str, dict[str, list[float]]] = {}
    for variant, path in PROBES.items():
        listener = _HungListener()
        try:
            with _server(variant, db, listener.port, timeout) as port:
                first: list[tuple[int, float]] = []

                def probe(port: int = port, path: str = path, sink: list[Any] = first) -> None:
                    sink.append(_get(port, path, timeout + 15))

                threads = [threading.Thread(target=probe) for _ in range(2)]
                for t in threads:
                    t.start()
                time.sleep(0.2)
                app = _get(port, "/noop", timeout + 15)
                for t in threads:
                    t.join()
                later = [
                    _get(port, path, timeout + 15) for _ in range(5 if variant == "opskit" else 0)
                ]
                out[variant] = {
                    "first": [s for _, s in first],
                    "later": [s for _, s in later],
                    "app": [app[1]],
                    "codes": [float(c) for c, _ in first + later],
                }
        finally:
            listener.close()
    return out


INPROC = {
    "health-opskit": "/readyz",
    "health-watchman": "/watchman/",
    "health-check": "/ht/",
    "health-noop": "/noop",
}


def _cpu(quick: bool) -> dict[str, list[float]]:
    """CPU µs per probe through Django's WSGI handler (SQLite, LocMem)."""
    rounds, n = (1, 300) if quick else (2, 1000)
    out: dict[str, list[float]] = {v: [] for v in INPROC}
    for _ in range(rounds):
        for variant, path in INPROC.items():
            count = n // 5 if variant == "health-check" else n  # ~2 ms each
            out[variant] += inproc(variant, path=path, n=count, repeats=3)
    return out


def run(quick: bool = False) -> list[Record]:
    global _MEDIA
    _MEDIA = tempfile.mkdtemp(prefix="opskit-bench-health-media-")
    db = f"opskit_bench_health_{os.getpid()}"
    admin = _pg_admin()
    admin.execute(f'CREATE DATABASE "{db}"')
    try:
        cpu = _cpu(quick)
        healthy = _healthy(db, quick)
        hung = _hung(db, quick)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(_MEDIA, ignore_errors=True)
    rps, sessions = healthy["rps"], healthy["sessions"]
    ours_cpu, noop_cpu = Figure.of(cpu["health-opskit"]), Figure.of(cpu["health-noop"])
    ours = Figure.of(rps["opskit"])
    noop = Figure.of(rps["noop"])
    best_anchor = max(Figure.of(rps[a]).median for a in ANCHOR_LABEL)
    x_anchor = ours.median / best_anchor if best_anchor else 0.0
    x_noop = ours.median / noop.median if noop.median else 0.0
    ok = x_anchor >= 7 and x_noop >= 0.8
    records = [
        Record(
            suite="health",
            metric="CPU per healthy probe, in-process WSGI (database + cache checks, cached)",
            unit="µs",
            better="lower",
            opskit=ours_cpu,
            anchors={
                "django-health-check": Figure.of(cpu["health-check"]),
                "django-watchman": Figure.of(cpu["health-watchman"]),
            },
            baseline={"no-op view, bare Django": noop_cpu},
            target="≤ a no-op view",
            verdict="met" if ours_cpu.median <= noop_cpu.median else "NOT met",
            notes="SQLite and LocMem, so the anchors' own I/O is as cheap as it gets",
        ),
        Record(
            suite="health",
            metric="Healthy readiness probe throughput, gunicorn 2 sync workers (DB + Redis checks)",
            unit="req/s",
            better="higher",
            opskit=ours,
            anchors={
                **{ANCHOR_LABEL[a]: Figure.of(rps[a]) for a in ANCHOR_LABEL},
                **{EXTRA[a]: Figure.of(rps[a]) for a in EXTRA},
            },
            baseline={
                "no-op view, bare Django": noop,
                "bare WSGI callable (server ceiling)": Figure.of(rps["static"]),
            },
            target="≥ 7x anchors, ≥ 80% of no-op",
            verdict=f"{'met' if ok else 'NOT met'}: {x_anchor:.1f}x best anchor, "
            f"{x_noop:.0%} of no-op (a bare WSGI callable reaches "
            f"{Figure.of(rps['static']).median / best_anchor:.1f}x best anchor)",
        ),
        Record(
            suite="health",
            metric="New PostgreSQL sessions per healthy probe (CONN_MAX_AGE = 60)",
            unit="sessions",
            better="lower",
            opskit=Figure.of(sessions["opskit"]),
            anchors={ANCHOR_LABEL[a]: Figure.of(sessions[a]) for a in ANCHOR_LABEL},
            target="no new connection per probe",
            verdict="met" if Figure.of(sessions["opskit"]).max < 0.01 else "NOT met",
        ),
    ]
    cap = 10 if quick else 20
    first = Figure.of(hung["opskit"]["first"])
    records.append(
        Record(
            suite="health",
            metric="Hung database: answer time of the first two concurrent probes",
            unit="s",
            better="lower",
            opskit=first,
            anchors={ANCHOR_LABEL[a]: Figure.of(hung[a]["first"]) for a in ANCHOR_LABEL},
            target=f"≤ deadline + 50 ms ({DEADLINE + 0.05:g} s)",
            verdict="met" if first.max <= DEADLINE + 0.05 else "NOT met",
            notes=f"anchors' answers are capped by gunicorn --timeout {cap} s (worker killed, "
            "connection dropped); opskit answers 503",
        )
    )
    later = Figure.of([s * 1000 for s in hung["opskit"]["later"]])
    records.append(
        Record(
            suite="health",
            metric="Hung database: answer time of the next probes (still hung)",
            unit="ms",
            better="lower",
            opskit=later,
            target="≤ 20 ms",
            verdict="met" if later.max <= 20 else "NOT met",
            notes="anchors: every probe waits like the first",
        )
    )
    records.append(
        Record(
            suite="health",
            metric="Hung database: an app request sent while two probes wait",
            unit="s",
            better="lower",
            opskit=Figure.of(hung["opskit"]["app"]),
            anchors={ANCHOR_LABEL[a]: Figure.of(hung[a]["app"]) for a in ANCHOR_LABEL},
            notes="2 sync workers: a probe that waits holds a worker; opskit's wait ends at "
            "the deadline",
        )
    )
    codes = {v: sorted({int(c) for c in hung[v]["codes"]}) for v in hung}
    records[-3].notes += f"; status codes seen: {codes}"
    return records
