"""Real servers for the benchmarks: start, warm every worker, load with wrk, read CPU.

A server runs in its own session (killed as a group), its stdout goes to a
file the suite can count lines in, and its worker processes' CPU time is
read from ``/proc/<pid>/stat`` around each load run.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from .util import ROOT

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    stdout: Path

    def workers(self) -> list[int]:
        """The worker processes (gunicorn's children), else the server process."""
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.Error:
            children = []
        return [c.pid for c in children] or [self.proc.pid]

    def lines(self) -> int:
        """Lines the server wrote on stdout so far."""
        with open(self.stdout, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pids`` so far, from ``/proc/<pid>/stat``."""
    user = system = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            # The command name (2nd field) may hold spaces: split after its ")".
            fields = f.read().rpartition(")")[2].split()
        user += int(fields[11]) / _TICK
        system += int(fields[12]) / _TICK
    return user, system


def main_thread_switches(pids: list[int]) -> int:
    """Voluntary context switches of each process's main thread so far, summed.

    ``/proc/<pid>/status`` counts the thread group leader alone: a sync
    worker's only thread, and under uvicorn the event loop's thread, where a
    blocking call (a system call that releases the GIL while an executor
    thread waits for it) hands the GIL over and waits to get it back.
    """
    total = 0
    for pid in pids:
        total += psutil.Process(pid).num_ctx_switches().voluntary
    return total


@contextlib.contextmanager
def server(
    name: str,
    argv: list[str],
    env: dict[str, str],
    directory: Path,
    workers: int = 1,
    ready_path: str = "/pid",
    warm_path: str | None = "/pid",
) -> Iterator[Server]:
    """Start ``argv`` on a free port (``{port}`` in it) and wait for it.

    It is ready when ``ready_path`` answers 200, and warm when each of the
    ``workers`` has answered ``warm_path`` (which says which worker it is).
    """
    port = free_port()
    out = directory / f"{name}.out"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen(
            [a.format(port=port) for a in argv],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=stdout,
            stderr=subprocess.STDOUT if env.get("BENCH_STDERR") else subprocess.DEVNULL,
            start_new_session=True,
        )
    srv = Server(name, port, proc, out)
    try:
        end = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_get(port, ready_path, 2.0)[0] == 200:
                    break
            if time.monotonic() > end:
                raise RuntimeError(f"{name} did not start")
            time.sleep(0.1)
        if warm_path is not None:
            warm(port, workers, warm_path)
        yield srv
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def warm(port: int, workers: int, path: str = "/pid", within: float = 30.0) -> None:
    """Return once every worker has answered ``path`` (booted, imports done).

    Sequential requests are not enough: a sync worker that has just answered
    accepts the next connection before its idle siblings wake, so one hot
    worker could serve them all while another is still booting.
    """
    seen: set[bytes] = set()
    end = time.monotonic() + within

    def one() -> None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, body = http_get(port, path)
            if status == 200:
                seen.add(body)

    while len(seen) < workers:
        if time.monotonic() > end:
            raise RuntimeError(f"only workers {sorted(seen)} of {workers} answered")
        threads = [threading.Thread(target=one) for _ in range(2 * workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass
class Load:
    rps: float
    requests: int
    errors: int


def wrk(port: int, path: str, seconds: int, threads: int = 2, connections: int = 16) -> Load:
    """One wrk run of ``seconds`` (whole: wrk takes no fractions) on loopback.

    Fails on any non-2xx answer.
    """
    exe = shutil.which("wrk")
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk); `make bench` installs it")
    out = subprocess.run(
        [
            exe,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    bad = _NON2XX.search(out)
    if bad and int(bad.group(1)):
        raise RuntimeError(f"{path}: {bad.group(1)} non-2xx answers under load:\n{out}")
    rps, total = _RPS.search(out), _TOTAL.search(out)
    if not rps or not total:
        raise RuntimeError(f"cannot parse wrk output:\n{out}")
    errors = _ERRORS.search(out)
    return Load(
        float(rps.group(1)),
        int(total.group(1)),
        sum(int(g) for g in errors.groups()) if errors else 0,
    )
