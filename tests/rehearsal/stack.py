"""The rehearsal's stack: the demo under gunicorn, PostgreSQL, a private Redis.

Everything listens on loopback, on free ports, and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo_project"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class PrivateRedis:
    """A redis-server of our own, so we may freeze, kill and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="opskit-rehearsal-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self.kill()


class HungListener:
    """Accepts TCP connections and never answers: a hung database."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.conns: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)  # hold it open, say nothing

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


class Gunicorn:
    """The demo under gunicorn with opskit's config (multi-process metrics)."""

    def __init__(self, env: dict[str, str], workers: int = 4) -> None:
        self.port = free_port()
        self.workers = workers
        self.env = env
        self.logdir = Path(tempfile.mkdtemp(prefix="opskit-rehearsal-logs-"))
        self.stdout = self.logdir / "stdout.log"
        self.stderr = self.logdir / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        out = open(self.stdout, "wb")  # noqa: SIM115 - lives as long as the server
        err = open(self.stderr, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:opskit.gunicorn",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
             "--timeout", "30", "--graceful-timeout", "5", "demo.wsgi:application"],
            cwd=DEMO, env=self.env, stdout=out, stderr=err,
        )
        wait_port(self.port, 30)
        # all workers booted
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(self.worker_pids()) < self.workers:
            time.sleep(0.1)

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            return sorted(c.pid for c in psutil.Process(self.proc.pid).children())
        except psutil.NoSuchProcess:
            return []

    def worker_rss(self) -> dict[int, int]:
        out = {}
        for pid in self.worker_pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                out[pid] = psutil.Process(pid).memory_info().rss
        return out

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.proc = None

    def log_lines(self) -> list[str]:
        return self.stdout.read_text(errors="replace").splitlines()

    def errors(self) -> str:
        return self.stderr.read_text(errors="replace")


def pg_url_for(base_url: str, dbname: str) -> str:
    u = urllib.parse.urlparse(base_url)
    return urllib.parse.urlunparse(u._replace(path=f"/{dbname}"))


@contextlib.contextmanager
def temp_database(base_url: str) -> Iterator[str]:
    import psycopg

    name = f"opskit_rehearsal_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url_for(base_url, name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class HangableProxy:
    """A TCP proxy to a real server that can be told to hang.

    While ``hung`` is set, bytes stop flowing both ways and new connections
    are accepted and left silent: the database looks alive to the kernel and
    dead to the application, the worst case for a health probe.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.hung = threading.Event()
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            self._socks.append(client)
            if self.hung.is_set():
                continue  # accept and never answer
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._socks.append(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(0.2)
        while not self._stop.is_set():
            if self.hung.is_set():
                time.sleep(0.05)
                continue
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.close()
        self.sock.close()
