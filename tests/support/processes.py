"""Ending the servers a test started; a probe script in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["probe_json", "run_python", "stop_process"]


def stop_process(proc: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited within ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def run_python(
    code: str, env: dict[str, str], cwd: Path, args: tuple[str, ...] = (), timeout: float = 120
) -> str:
    """Run ``code`` in a new interpreter (it must succeed); return its stdout.

    For what only a fresh process shows (imports, the startup context).
    """
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def probe_json(code: str, args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """:func:`run_python`, and the JSON object on the last line it printed."""
    stdout = run_python(code, env, cwd, tuple(args))
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result
