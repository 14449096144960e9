"""Scenario 8: the log loses nothing and says each request once, under real servers.

* Rotation across processes: 4 gunicorn workers, then 2 uvicorn workers,
  write ``rotating_file_logging()``'s files rotating at 200 KB with 5
  backups while 16 clients send 20,000 requests with unique
  ``X-Request-ID``s.  Every id found is found once, every line of every
  file is one whole JSON object, and every request sent after the client
  had the answer to a kept one is in the files (the kept window).
* One line per request: runserver, gunicorn with its access log on and
  uvicorn with its default flags each answer 200 requests (404s and 500s
  among them) with exactly 200 request lines, and every line they log is
  JSON.

The servers run ``tests.rehearsal.logging_app``, a project with no
database, so the requests cost little and the run stays short; it does not
need the rehearsal's PostgreSQL/Redis stack.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import client
from .client import latency_summary, run_load
from .stack import ROOT, _no_control_socket, free_port, wait_port

pytestmark = pytest.mark.rehearsal

REQUESTS = 20_000
CLIENTS = 16
CLIENT_PROCESSES = 4
MAX_BYTES = 200 * 1024
BACKUPS = 5
#: Bound on each load run (the machine is shared: 70-125 s were seen at a
#: load average of 36 on 2 cores).
LOAD_SECONDS = 240.0
MIX_REQUESTS = 200
APP = "tests.rehearsal.logging_app"


class Server:
    """One server process running the logging app, its output in files."""

    def __init__(self, kind: str, env_extra: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"opskit-rehearsal-{kind}-"))
        self.stdout = self.dir / "stdout.log"
        self.stderr = self.dir / "stderr.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "OPSKIT_", "PROMETHEUS_", "SENTRY_", "REHEARSAL_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE=APP,
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
            PYTHONUNBUFFERED="1",
            **(env_extra or {}),
        )
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self, workers: int, access_log: bool) -> list[str]:
        bind = f"127.0.0.1:{self.port}"
        if self.kind.startswith("gunicorn"):
            # gunicorn+logconfig: json_logging() as gunicorn's logconfig_dict
            # too, so the master logs JSON (docs/logging.md).
            config = ["-c", f"python:{APP}"] if self.kind == "gunicorn+logconfig" else []
            return [
                sys.executable,
                "-m",
                "gunicorn",
                *config,
                "--bind",
                bind,
                "--workers",
                str(workers),
                "--graceful-timeout",
                "5",
                *(["--access-logfile", "-"] if access_log else []),
                *_no_control_socket(),
                f"{APP}:application",
            ]
        if self.kind == "uvicorn":
            # Default flags: its access log is on unless opskit's config
            # silences it.
            return [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                f"{APP}:asgi_application",
            ]
        return [
            sys.executable,
            "-m",
            "django",
            "runserver",
            bind,
            "--noreload",
            "--skip-checks",
        ]

    def start(self, workers: int = 1, access_log: bool = False) -> None:
        out = open(self.stdout, "ab")  # noqa: SIM115 - lives as long as the server
        err = open(self.stderr, "ab")  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                self.command(workers, access_log),
                cwd=self.dir,
                env=self.env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        finally:
            out.close()
            err.close()
        wait_port(self.port, 60)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            # Its whole session: uvicorn's and gunicorn's workers too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running(
    kind: str, workers: int = 1, access_log: bool = False, env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = Server(kind, env)
    try:
        server.start(workers, access_log)
        yield server
    finally:
        server.stop()
        if not os.environ.get("OPSKIT_REHEARSAL_KEEP_LOGS"):
            server.cleanup()


def read_rotated(directory: Path) -> tuple[list[Path], list[str], Counter[str]]:
    """The app log files oldest first, every problem line, and the request ids logged."""
    files = sorted(
        directory.glob("app.log*"),
        key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0,
    )
    bad: list[str] = []
    ids: Counter[str] = Counter()
    for path in files:
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):
            bad.append(f"{path.name}: ends inside a line")
        for raw in data.splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if not isinstance(line, dict):
                bad.append(f"{path.name}: {raw[:120]!r}")
            elif line.get("logger") == "opskit.request":
                ids[str(line.get("request_id"))] += 1
    return files, bad, ids


def load(port: int, plan: client.Plan, clients: int, processes: int) -> list[client.Result]:
    """``clients`` connections spread over ``processes`` client processes.

    One process with 16 threads spends much of its CPU on the GIL; the
    server is what is measured.  Each process takes every n-th request.
    """
    items = list(plan)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        parts = pool.starmap(
            client.run_load,
            [
                (port, items[i::processes], clients // processes, LOAD_SECONDS)
                for i in range(processes)
            ],
        )
    return [r for part in parts for r in part]


@pytest.mark.parametrize(("kind", "workers"), [("gunicorn", 4), ("uvicorn", 2)])
def test_rotation_across_workers(kind: str, workers: int, scenario: dict[str, Any]) -> None:
    logdir = Path(tempfile.mkdtemp(prefix="opskit-rehearsal-rotation-"))
    env = {
        "REHEARSAL_LOG_DIR": str(logdir),
        "REHEARSAL_LOG_MAX_BYTES": str(MAX_BYTES),
        "REHEARSAL_LOG_BACKUPS": str(BACKUPS),
    }
    run_tag = os.urandom(4).hex()
    sent_ids = [f"rot-{run_tag}-{i:06d}" for i in range(REQUESTS)]
    plan = [("GET", "/ok/", {"X-Request-ID": rid}) for rid in sent_ids]
    try:
        with running(kind, workers, env=env) as server:
            t0 = time.monotonic()
            results = load(server.port, plan, CLIENTS, CLIENT_PROCESSES)
            seconds = time.monotonic() - t0
            stderr = server.stderr.read_text(errors="replace")
        files, bad, ids = read_rotated(logdir)
        answered = {r.request_id: r for r in results if r.status == 200}
        doubled = sorted(i for i, n in ids.items() if n > 1)
        unknown = sorted(set(ids) - set(sent_ids))
        # The kept window, exactly: a request's line is written before its
        # response leaves the server, so every request sent after the client
        # had the response of a kept one was logged after that kept line,
        # and must be kept too (the files lose only what came before).
        # ``sent`` is monotonic, shared by the client's processes.
        kept_done = min(
            (answered[i].sent + answered[i].seconds for i in ids if i in answered),
            default=float("inf"),
        )
        window = [
            rid for rid in sent_ids if rid in answered and answered[rid].sent > kept_done + 0.001
        ]
        missing = [rid for rid in window if rid not in ids]

        # -- report first -------------------------------------------------------
        scenario["latency"][f"{kind} x{workers}, {CLIENTS} clients"] = latency_summary(results)
        scenario["counts"].update(
            {
                "requests sent / answered 200": f"{len(results)} / {len(answered)}",
                "seconds (requests per second)": f"{seconds:.1f} ({len(results) / seconds:.0f})",
                "log files kept": ", ".join(p.name for p in files),
                "ids in the kept files": len(ids),
                "ids in the kept window / missing from it": f"{len(window)} / {len(missing)}",
                "ids logged more than once": len(doubled),
                "lines not whole JSON objects": len(bad),
            }
        )
        scenario["notes"].append(
            f"rotating_file_logging() default handler (ConcurrentRotatingFileHandler), "
            f"{MAX_BYTES // 1024} KB files, {BACKUPS} backups; {kind} with {workers} workers."
        )

        # -- then assert --------------------------------------------------------
        assert len(results) == REQUESTS, f"only {len(results)} requests sent in {LOAD_SECONDS} s"
        assert len(answered) == REQUESTS, Counter(r.status for r in results)
        assert (logdir / f"app.log.{BACKUPS}").exists(), [p.name for p in files]
        assert not (logdir / f"app.log.{BACKUPS + 1}").exists()
        assert not bad, bad[:5]
        assert not doubled, doubled[:5]
        assert not unknown, unknown[:5]
        # The window is most of what the files hold, and it is whole.
        assert len(window) > len(ids) // 2, (len(window), len(ids))
        assert not missing, f"{len(missing)} ids missing from the kept window: {missing[:5]}"
        assert "Traceback" not in stderr, stderr[-2000:]
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def mix_plan(tag: str) -> list[tuple[str, str, dict[str, str]]]:
    """200 requests: 160 answered 200, 25 404s, 15 500s, each with its own id."""
    paths = ["/ok/"] * 160 + ["/no-such-page/"] * 25 + ["/boom/"] * 15
    return [("GET", path, {"X-Request-ID": f"mix-{tag}-{i:04d}"}) for i, path in enumerate(paths)]


@pytest.mark.parametrize("kind", ["runserver", "gunicorn", "gunicorn+logconfig", "uvicorn"])
def test_one_line_per_request(kind: str, scenario: dict[str, Any]) -> None:
    tag = f"{kind.replace('+', '-')}-{os.urandom(3).hex()}"  # ids allow no "+"
    plan = mix_plan(tag)
    gunicorn = kind.startswith("gunicorn")
    with running(kind, workers=2 if gunicorn else 1, access_log=True) as server:
        results = run_load(server.port, plan, 4, 60.0)
        time.sleep(0.5)  # the last lines reach the file
        out = server.stdout.read_text(errors="replace").splitlines()
        err = server.stderr.read_text(errors="replace").splitlines()
    # runserver prints its banner (not a log record) before serving.
    first = next((i for i, line in enumerate(out) if line.startswith("{")), len(out))
    banner, logged = out[:first], out[first:]
    records: list[dict[str, Any]] = []
    not_json: list[str] = []
    for line in logged:
        try:
            records.append(json.loads(line))
        except ValueError:
            not_json.append(line)
    ours = [r for r in records if str(r.get("request_id", "")).startswith(f"mix-{tag}-")]
    request_lines = Counter(r["request_id"] for r in ours if r.get("logger") == "opskit.request")
    servers_access = [
        r
        for r in records
        if r.get("logger") in ("django.server", "gunicorn.access", "uvicorn.access")
    ]
    tracebacks = [r for r in ours if r.get("logger") == "django.request"]
    # An access line in text anywhere (stderr, or stdout after the banner).
    text_access = [line for line in err + not_json if "/ok/" in line or "/boom/" in line]
    statuses = Counter(r.status for r in results)

    scenario["counts"].update(
        {
            "answers": dict(sorted(statuses.items())),
            "request lines (opskit.request)": sum(request_lines.values()),
            "ids with other than one request line": sum(
                1 for _, _, h in plan if request_lines[h["X-Request-ID"]] != 1
            ),
            "lines after the banner / not JSON": f"{len(logged)} / {len(not_json)}",
            "server access lines (JSON / text)": f"{len(servers_access)} / {len(text_access)}",
            "django.request tracebacks (one per 500)": len(tracebacks),
            "stderr lines": len(err),
        }
    )
    scenario["notes"].append(
        f"{kind}: "
        + {
            "runserver": "manage.py runserver --noreload, json_logging().",
            "gunicorn": "2 workers, --access-logfile - (its access log on), json_logging().",
            "gunicorn+logconfig": "the same, with logconfig_dict = json_logging() in gunicorn's "
            "config: the master's lines are JSON too.",
            "uvicorn": "default flags (its access log on), json_logging().",
        }[kind]
    )

    assert statuses == {200: 160, 404: 25, 500: 15}, statuses
    assert sum(request_lines.values()) == MIX_REQUESTS
    assert all(request_lines[h["X-Request-ID"]] == 1 for _, _, h in plan)
    assert not not_json, not_json[:5]
    assert not servers_access, servers_access[:3]
    assert not text_access, text_access[:3]
    # The error logger stays: each 500's traceback once, with its request id.
    assert len(tracebacks) == 15 and all("exc_info" in r for r in tracebacks)
    if kind == "runserver":
        assert any("Starting development server" in line for line in banner)
    if kind != "gunicorn":
        # gunicorn's master never loads Django: without a logconfig_dict its
        # own lines stay text on stderr.  The others write nothing there.
        assert not err, err[:5]
    if kind == "gunicorn+logconfig":
        assert any(r.get("message", "").startswith("Booting worker") for r in records)
