#!/usr/bin/env python3
"""Replay the Dockerfile's install and start steps without Docker, then probe.

    python tools/dockerfile_smoke.py [--reuse-venv] [--keep]

There is no Docker engine on every machine that runs ``make test``; this
reads the top-level ``Dockerfile`` itself (so it cannot drift from it) and
replays it in a temporary directory standing in for the image's ``/``:

* ``COPY`` copies the files from the repository;
* ``RUN`` lines that install Python packages run in a fresh venv (system
  setup such as ``useradd`` / ``chown`` is reported and skipped: it needs
  root and changes nothing Python sees);
* ``ENV`` / ``WORKDIR`` apply, absolute paths mapped into the directory;
* ``CMD`` starts (migrate, seed, gunicorn with several workers), bound to a
  free loopback port through ``GUNICORN_CMD_ARGS``;

then it probes ``/livez`` and ``/api/posts/``, runs the ``HEALTHCHECK``
command, stops gunicorn with SIGTERM and checks it exits cleanly.  What it
cannot check: the base image's Python version (the venv uses this
interpreter), the non-root user, and layer caching.  Standard library only.

``--reuse-venv`` skips the ``pip install`` steps and runs the start steps
with this interpreter's environment: a few seconds instead of a minute, so
``tests/demo/test_deploy.py`` runs it in ``make test``; ``make
dockerfile-smoke`` runs the full replay.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_COMMANDS = ("useradd", "groupadd", "mkdir", "chown", "chmod", "apt-get", "apk")


def log(msg: str) -> None:
    print(f"[dockerfile-smoke] {msg}", flush=True)


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def command_args(arg: str) -> list[str]:
    """Exec form (JSON list) or shell form (``sh -c``)."""
    if arg.startswith("["):
        value = json.loads(arg)
        assert isinstance(value, list)
        return [str(v) for v in value]
    return ["sh", "-c", arg]


def env_pairs(arg: str) -> list[tuple[str, str]]:
    pairs = []
    for token in shlex.split(arg):
        key, _, value = token.partition("=")
        pairs.append((key, value))
    return pairs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Replay:
    def __init__(self, root: Path, reuse_venv: bool = False) -> None:
        self.root = root
        self.reuse_venv = reuse_venv
        self.venv = Path(sys.prefix) if reuse_venv else root / "venv"
        self.workdir = "/"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("DJANGO_", "DATABASE_URL", "REDIS_URL", "PROMETHEUS_", "VIRTUAL_ENV")
            )
        }
        self.env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{self.env.get('PATH', '')}"
        self.cmd: list[str] = []
        self.healthcheck: list[str] = []

    def path(self, container_path: str) -> Path:
        """Where an absolute path of the image lives in the replay."""
        if not container_path.startswith("/"):
            container_path = os.path.join(self.workdir, container_path)
        return self.root / "fs" / container_path.lstrip("/")

    def map_value(self, value: str) -> str:
        """Map absolute paths inside ENV values (``sqlite:////data/x``, ``/tmp/y``)."""
        if value.startswith("sqlite:////"):
            return "sqlite:///" + str(self.path(value[len("sqlite:///") :]))
        if value.startswith("/"):
            return str(self.path(value))
        return value

    def run(self, dockerfile: Path) -> None:
        if not self.reuse_venv:
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        for word, arg in instructions(dockerfile.read_text()):
            if word == "FROM":
                log(f"FROM {arg}: replayed with {sys.executable} ({sys.version.split()[0]})")
            elif word == "ENV":
                for key, value in env_pairs(arg):
                    self.env[key] = self.map_value(value)
            elif word == "WORKDIR":
                self.workdir = arg if arg.startswith("/") else os.path.join(self.workdir, arg)
                self.path(self.workdir).mkdir(parents=True, exist_ok=True)
            elif word == "COPY":
                parts = [p for p in shlex.split(arg) if not p.startswith("--")]
                *sources, dest = parts
                for src in sources:
                    self.copy(ROOT / src, dest, len(sources) > 1 or dest.endswith("/"))
            elif word == "RUN":
                self.run_step(arg)
            elif word == "USER":
                log(f"USER {arg}: not replayed (runs as {os.environ.get('USER', 'this user')})")
            elif word == "CMD":
                self.cmd = command_args(arg)
            elif word == "HEALTHCHECK":
                _, _, rest = arg.partition("CMD")
                self.healthcheck = command_args(rest.strip())
            elif word in ("EXPOSE", "LABEL", "ARG", "STOPSIGNAL"):
                continue
            else:
                raise SystemExit(f"dockerfile-smoke: unsupported instruction {word}")
        if not self.cmd:
            raise SystemExit("dockerfile-smoke: the Dockerfile has no CMD")

    def copy(self, src: Path, dest: str, into: bool) -> None:
        target = self.path(dest)
        if into or src.is_dir():
            target = target / src.name if into else target
        if src.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3", "staticfiles")
            shutil.copytree(src, target, dirs_exist_ok=True, ignore=ignore)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)

    def run_step(self, arg: str) -> None:
        for step in (s.strip() for s in arg.split("&&")):
            if step.split()[0] in SYSTEM_COMMANDS:
                log(f"RUN {step}: system setup, skipped")
                for word in step.split()[1:]:
                    if word.startswith("/"):
                        self.path(word).mkdir(parents=True, exist_ok=True)
                continue
            if self.reuse_venv and "pip " in f"{step} ":
                log(f"RUN {step}: skipped (--reuse-venv: {self.venv})")
                continue
            log(f"RUN {step}")
            started = time.monotonic()
            subprocess.run(
                ["sh", "-c", step], cwd=self.path(self.workdir), env=self.env, check=True
            )
            log(f"    {time.monotonic() - started:.1f} s")

    def start(self, port: int) -> subprocess.Popen[bytes]:
        args = f"--bind 127.0.0.1:{port}"
        # gunicorn >= 25 opens a control socket in $HOME, shared by every
        # gunicorn of the user: this one must not take over another's.
        helptext = subprocess.run(
            [str(self.venv / "bin" / "gunicorn"), "--help"], capture_output=True, text=True
        ).stdout
        if "--no-control-socket" in helptext:
            args += " --no-control-socket"
        env = dict(self.env, GUNICORN_CMD_ARGS=args)
        log(f"CMD {shlex.join(self.cmd)}  (bound to 127.0.0.1:{port})")
        return subprocess.Popen(
            self.cmd, cwd=self.path(self.workdir), env=env, start_new_session=True
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--reuse-venv",
        action="store_true",
        help="skip the pip install steps; run the start steps with this Python's environment",
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for /livez")
    args = parser.parse_args()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="opskit-dockerfile-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        replay = Replay(tmp, reuse_venv=args.reuse_venv)
        # The image disables pip's cache to stay small; the replay keeps it.
        replay.run(ROOT / "Dockerfile")
        replay.env.pop("PIP_NO_CACHE_DIR", None)
        port = free_port()
        server = replay.start(port)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + args.timeout
        status = 0
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"dockerfile-smoke: CMD exited with {server.returncode}")
            try:
                status, body = get(base + "/livez", 2.0)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise SystemExit(f"dockerfile-smoke: /livez did not answer 200 (last {status})")
        log(f"/livez 200: {body[:80]!r}")
        status, body = get(base + "/api/posts/?limit=3")
        posts = json.loads(body)
        if status != 200 or posts["count"] < 100 or len(posts["results"]) != 3:
            raise SystemExit(f"dockerfile-smoke: /api/posts/ answered {status} {body[:200]!r}")
        log(f"/api/posts/ 200: {posts['count']} published posts")
        if replay.healthcheck:
            check = subprocess.run(
                replay.healthcheck, cwd=replay.path(replay.workdir), env=replay.env, check=False
            )
            if check.returncode != 0:
                raise SystemExit(f"dockerfile-smoke: HEALTHCHECK exited {check.returncode}")
            log(f"HEALTHCHECK {shlex.join(replay.healthcheck)}: exit 0")
        os.killpg(server.pid, signal.SIGTERM)
        code = server.wait(30)
        server = None
        if code != 0:
            raise SystemExit(f"dockerfile-smoke: gunicorn exited {code} on SIGTERM")
        log(f"SIGTERM: clean exit; total {time.monotonic() - started:.1f} s")
        return 0
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
