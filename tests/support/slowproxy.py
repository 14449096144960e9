"""A TCP proxy that hands each reply over ``delay`` seconds late, in its own process.

A live Redis on a slow path.  Its own process, so a loaded machine starves
it like any server and not through the test's GIL: in the test process its
threads would queue behind the event loop under test, and a starved proxy
is a slow Redis, which the test did not mean to build.

    python -m tests.support.slowproxy TARGET_PORT DELAY

prints the port it listens on, then serves until killed.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            time.sleep(delay)
            dst.sendall(data)


def serve(target: int, delay: float) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    while True:
        client, _ = sock.accept()
        upstream = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=_pump, args=(client, upstream, 0.0), daemon=True).start()
        threading.Thread(target=_pump, args=(upstream, client, delay), daemon=True).start()


class SlowReplies:
    """The proxy's process, in front of Redis on ``port``: connect to ``.port``."""

    def __init__(self, port: int, delay: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.slowproxy", str(port), str(delay)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]))
