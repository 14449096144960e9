#!/usr/bin/env python3
"""Make sure the tests have a real Redis and a real PostgreSQL, then run a command.

    python tools/services.py run -- pytest ...

Uses ``OPSKIT_TEST_REDIS_URL`` / ``OPSKIT_TEST_DATABASE_URL`` when set, else
127.0.0.1:6379 and 127.0.0.1:5432.  Where nothing answers, it starts a
private ``redis-server`` and a private PostgreSQL cluster (``initdb`` +
``pg_ctl``) in a temporary directory on free ports, installs the binaries
with apt-get when they are missing and we are root (or says exactly what to
install), exports the URLs to the command, and stops what it started.
Standard library only: it runs before the virtual environment has anything.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from urllib.parse import urlparse

DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/postgres"


def log(msg: str) -> None:
    print(f"[services] {msg}", file=sys.stderr, flush=True)


def answers(host: str, port: int, probe: bytes | None = None, expect: bytes | None = None) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            if probe is None:
                return True
            s.settimeout(1.0)
            s.sendall(probe)
            data = s.recv(64)
            return expect is None or data.startswith(expect)
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def apt_install(packages: list[str], what: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        sys.exit(
            f"[services] {what} is not running and its binaries are missing. "
            f"Install them (Debian/Ubuntu: sudo apt-get install {' '.join(packages)}) "
            f"or point {what.split()[0].upper()} at a server with the OPSKIT_TEST_* URL."
        )
    log(f"installing {' '.join(packages)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    url = os.environ.get("OPSKIT_TEST_REDIS_URL", DEFAULT_REDIS)
    u = urlparse(url)
    if answers(u.hostname or "127.0.0.1", u.port or 6379, b"PING\r\n", b"+PONG"):
        log(f"using Redis at {u.hostname}:{u.port}")
        yield url
        return
    if not shutil.which("redis-server"):
        apt_install(["redis-server"], "redis-server")
    tmp = tempfile.mkdtemp(prefix="opskit-redis-")
    port = free_port()
    log(f"starting a private redis-server on 127.0.0.1:{port} in {tmp}")
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if answers("127.0.0.1", port, b"PING\r\n", b"+PONG"):
                break
            time.sleep(0.05)
        else:
            sys.exit("[services] private redis-server did not start")
        yield f"redis://127.0.0.1:{port}/15"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def _as_postgres_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    url = os.environ.get("OPSKIT_TEST_DATABASE_URL", DEFAULT_DB)
    u = urlparse(url)
    if answers(u.hostname or "127.0.0.1", u.port or 5432):
        log(f"using PostgreSQL at {u.hostname}:{u.port}")
        yield url
        return
    if not pg_bin("initdb") or not pg_bin("pg_ctl"):
        apt_install(["postgresql"], "postgresql server")
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    assert initdb and pg_ctl
    tmp = tempfile.mkdtemp(prefix="opskit-pg-")
    data = os.path.join(tmp, "data")
    port = free_port()
    prefix = _as_postgres_user()
    if prefix:
        shutil.chown(tmp, "postgres")
    log(f"starting a private PostgreSQL on 127.0.0.1:{port} in {tmp}")
    subprocess.run(
        [*prefix, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*prefix, pg_ctl, "-D", data, "-o", opts, "-l", os.path.join(tmp, "log"), "-w", "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", data, "-m", "fast", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        print(__doc__)
        return 2
    with redis_server() as redis_url, postgres_server() as db_url:
        env = dict(os.environ, OPSKIT_TEST_REDIS_URL=redis_url, OPSKIT_TEST_DATABASE_URL=db_url)
        proc = subprocess.Popen(argv[2:], env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
