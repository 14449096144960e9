"""The rehearsal's stack: the demo under gunicorn, PostgreSQL, a private Redis.

Everything listens on loopback, on free ports, and is stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil

from tests.support.net import free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "demo_project"


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
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL (a stopped process dies too: no SIGCONT first, which would
        let it answer the commands queued while it was frozen)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Gunicorn:
    """The demo under gunicorn with opskit's config (multi-process metrics)."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 4,
        timeout: int = 30,
        app: str = "demo.wsgi:application",
        extra_args: Sequence[str] = (),
        extra: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.port = free_port()
        self.workers = workers
        self.timeout = timeout
        self.env = env
        #: More command-line options (``--worker-class gthread --threads 4``).
        self.extra = [*extra_args, *extra]
        self.logdir = Path(tempfile.mkdtemp(prefix="opskit-rehearsal-logs-"))
        self.stdout = self.logdir / "stdout.log"
        self.stderr = self.logdir / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Append mode: the workers share one file description, and every
        # log line is one write() (PYTHONUNBUFFERED), so lines never mix.
        out = open(self.stdout, "ab")  # noqa: SIM115 - lives as long as the server
        err = open(self.stderr, "ab")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=DEMO,
                env=self.env,
                stdout=out,
                stderr=err,
            )
        finally:
            out.close()
            err.close()
        wait_port(self.port, 60)
        # all workers booted
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(self.worker_pids()) < self.workers:
            time.sleep(0.1)
        if len(self.worker_pids()) < self.workers:
            raise RuntimeError(f"gunicorn started {self.worker_pids()}:\n{self.errors()[-2000:]}")

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:opskit.gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--timeout",
            str(self.timeout),
            "--graceful-timeout",
            "5",
            *_no_control_socket(),
            *self.extra,
            self.app,
        ]

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
        if self.proc is None:
            return
        try:
            workers = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            workers = []
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
        # A master killed before its workers leaves them behind: end the
        # ones this server started (psutil refuses a pid reused since).
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()

    def log_size(self) -> int:
        return self.stdout.stat().st_size

    def err_size(self) -> int:
        return self.stderr.stat().st_size

    def log_lines(self, since: int = 0) -> list[str]:
        with open(self.stdout, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace").splitlines()

    def records(self, since: int = 0) -> list[dict[str, object]]:
        """The JSON log lines written since byte ``since`` (others are skipped)."""
        out = []
        for line in self.log_lines(since):
            with contextlib.suppress(ValueError):
                obj = json.loads(line)
                if isinstance(obj, dict):
                    out.append(obj)
        return out

    def errors(self, since: int = 0) -> str:
        with open(self.stderr, "rb") as f:
            f.seek(since)
            return f.read().decode("utf-8", "replace")

    def cleanup(self) -> None:
        shutil.rmtree(self.logdir, ignore_errors=True)


class Uvicorn(Gunicorn):
    """The demo's ASGI application under ``uvicorn --workers N``."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "demo.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--lifespan",
            "off",  # Django's ASGI handler has no lifespan protocol
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "5",
            *self.extra,
        ]

    def worker_pids(self) -> list[int]:
        # uvicorn's supervisor may also start multiprocessing's resource tracker.
        if self.proc is None:
            return []
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []
        out = []
        for c in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if "resource_tracker" not in " ".join(c.cmdline()):
                    out.append(c.pid)
        return sorted(out)


def _no_control_socket() -> list[str]:
    """Gunicorn >= 24 opens a control socket in ~/.gunicorn shared by every
    instance; the rehearsal's server must not touch anything outside its
    temporary directories."""
    from gunicorn import config

    names = {getattr(s, "name", None) for s in config.KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []


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
