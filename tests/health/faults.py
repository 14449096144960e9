"""Real faults for the health tests: a listener that never answers, a TCP
proxy that can freeze, one that can drop packets or connections silently,
and a private redis-server that can be SIGSTOPped."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator

from tests.support.net import free_port
from tests.support.processes import stop_process


class HungListener:
    """Accepts TCP connections and never sends a byte (a hung server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.closed = True
        for c in [self.sock, *self.accepted]:
            with contextlib.suppress(OSError):
                c.close()


class FreezableProxy:
    """Forwards TCP to a real server; ``freeze()`` makes it hang, ``thaw()``
    drops the frozen connections (clients see an error) and forwards again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = int(self.sock.getsockname()[1])
        self.frozen = False
        self.closed = False
        self.clients: list[socket.socket] = []
        self.accepted = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.clients.append(client)
            if self.frozen:
                continue  # accepted, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen and not self.closed:
                    time.sleep(0.01)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()

    def freeze(self) -> None:
        self.frozen = True

    def thaw(self) -> None:
        # Unfreeze first: a client that reconnects the moment its frozen
        # socket is dropped must be forwarded, not parked on a new silent
        # connection that no later thaw would drop (a flaky hang seen under load).
        with self.lock:
            stale, self.clients = self.clients, []
            self.frozen = False
        for s in stale:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self.closed = True
        self.frozen = False
        with contextlib.suppress(OSError):
            self.sock.close()
        self.thaw()


class _Pair:
    """One proxied connection; ``dead`` once packets were lost on it."""

    __slots__ = ("client", "dead", "upstream")

    def __init__(self, client: socket.socket, upstream: socket.socket | None) -> None:
        self.client = client
        self.upstream = upstream
        self.dead = upstream is None


class SwitchableProxy:
    """A TCP proxy with three modes, switchable at any time.

    * ``forward``: bytes flow.
    * ``blackhole``: bytes vanish and nothing is closed, both ways, for
      existing and new connections (accepted, never connected upstream):
      a pulled cable seen from behind a kernel that still ACKs.  A
      connection that lost bytes stays dead after the switch back, as its
      protocol state is lost (a NAT or a stateful firewall that forgot it).
    * ``close``: every connection is closed, new ones too (a refused port).
    * ``hang``: bytes are held, nothing is closed, and they flow again on
      the switch back (a hung server that resumes, or a stalled link).

    :meth:`drop_existing` silently kills the current connections only: the
    kept probe connection is gone while new connections work.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.sock, self.port = _listener()
        self.mode = "forward"
        self.closed = False
        self.pairs: list[_Pair] = []
        self.accepted = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            if self.mode == "close":
                _close(client)
                continue
            upstream = None
            if self.mode in ("forward", "hang"):
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _close(client)
                    continue
            pair = _Pair(client, upstream)
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair, client, upstream), daemon=True).start()
            if upstream is not None:
                threading.Thread(
                    target=self._pump, args=(pair, upstream, client), daemon=True
                ).start()

    def _pump(self, pair: _Pair, src: socket.socket, dst: socket.socket | None) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.mode == "hang" and not self.closed:
                    time.sleep(0.01)
                if self.mode == "blackhole":
                    pair.dead = True
                if pair.dead or dst is None:
                    continue  # the bytes vanish; nothing is closed
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not pair.dead:
                _close(src)
                if dst is not None:
                    _close(dst)

    def set_mode(self, mode: str) -> None:
        assert mode in ("forward", "blackhole", "close", "hang"), mode
        self.mode = mode
        if mode == "close":
            self._close_all()

    def drop_existing(self) -> None:
        with self.lock:
            for pair in self.pairs:
                pair.dead = True

    def live_connections(self) -> int:
        with self.lock:
            return sum(1 for p in self.pairs if not p.dead)

    def _close_all(self) -> None:
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            _close(pair.client)
            if pair.upstream is not None:
                _close(pair.upstream)

    def close(self) -> None:
        self.closed = True
        _close(self.sock)
        self._close_all()


def _listener() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock, int(sock.getsockname()[1])


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A redis-server of our own (free port, temp dir) we may SIGSTOP."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is required for the health tests"
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="opskit-health-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", tmp],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)
        yield port, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        stop_process(proc, grace=5)
        shutil.rmtree(tmp, ignore_errors=True)
